"""`events publish`: an event as the platform's services or the customer portal would send it."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from services.common import kafka, outbox
from services.common.config import Config
from services.common.contract import ContractModel, record_key
from services.common.envelope import new_event

SOURCE = "/portal-autopay/operators"


@dataclass(frozen=True)
class Published:
    id: str
    topic: str
    key: str
    partition: int
    offset: int


async def publish(config: Config, data: ContractModel) -> Published:
    """Publish `data` in binary mode on its contract topic and key, as the services do."""
    event = new_event(data, source=SOURCE, subject=record_key(data))
    [record] = outbox.encode([event])
    topic = config.topic(record.topic)
    async with operator_producer(config) as producer:
        sent = await producer.send_and_wait(
            topic, value=record.value, key=record.key.encode(), headers=record.headers
        )
    return Published(event.id, topic, record.key, sent.partition, sent.offset)


@contextlib.asynccontextmanager
async def operator_producer(config: Config) -> AsyncIterator[AIOKafkaProducer]:
    """The services' producer, started, but not idempotent: the tools must work on the embedded
    broker of `make run` (which refuses idempotence) with nothing to configure. They send one
    record at a time, in order, and a record a retry repeats has the same `ce_id`, which the
    services dedupe on."""
    producer = kafka.make_producer(config.model_copy(update={"kafka_enable_idempotence": False}))
    try:
        await producer.start()
        yield producer
    finally:
        await producer.stop()
