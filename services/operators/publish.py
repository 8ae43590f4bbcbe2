"""`events publish`: a PaymentMethodAdded as the platform's payment services would send it."""

from dataclasses import dataclass

from services.common import kafka, outbox
from services.common.config import Config
from services.common.contract import PaymentMethodAdded, record_key
from services.common.envelope import new_event

SOURCE = "/portal-autopay/operators"


@dataclass(frozen=True)
class Published:
    id: str
    topic: str
    key: str
    partition: int
    offset: int


async def publish(config: Config, data: PaymentMethodAdded) -> Published:
    """Publish `data` in binary mode on its contract topic and key, as the services do."""
    event = new_event(data, source=SOURCE, subject=record_key(data))
    [record] = outbox.encode([event])
    topic = config.topic(record.topic)
    producer = kafka.make_producer(config)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, value=record.value, key=record.key.encode(), headers=record.headers
        )
    finally:
        await producer.stop()
    return Published(event.id, topic, record.key, sent.partition, sent.offset)
