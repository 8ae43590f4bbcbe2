"""A record the Kafka client cannot even unpack: a header name that is not UTF-8.

Any producer but a Python one can write it. aiokafka decodes header names while it drains
the fetched partitions into one batch, one partition after the other: the failure threw away
the records already drained from the other partitions, whose positions had moved past them
(committed past with the next batch: lost), and FastStream restarted its consume loop at once,
for ever, the record's partition stuck.
"""

import aiokafka.producer.message_accumulator as accumulator
import aiokafka.producer.producer as producer_module
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from faststream.kafka import KafkaBroker

from services.common import subscription
from services.common.consumer import BatchConsumer
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PaymentMethodAdded,
)
from services.common.envelope import encode_binary, new_event
from services.common.kafka import UNREADABLE_VALUE
from tests.integration.common.test_consumer_failures import (
    committed_offsets,
    dead_letters,
    subscribe,
)
from tests.integration.common.test_outbox_and_consumer import payment_method_added
from tests.support import TopicReader, eventually, header


class NotUtf8(str):
    """A header name whose bytes are not UTF-8, as another client could write it."""

    def encode(self, *_: object, **__: object) -> bytes:
        return b"\xff\xfe"


async def test_a_record_with_a_header_name_not_utf8_is_dead_lettered_and_nothing_else_lost(
    config, kafka_producer, monkeypatch
):
    # The pure-Python record builder encodes header names with `str.encode`: NotUtf8's.
    for module in (accumulator, producer_module):
        monkeypatch.setattr(module, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy)
    topic = config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    customers: dict[str, str] = {}
    raw = AIOKafkaProducer(bootstrap_servers=config.kafka_bootstrap_servers, acks="all")
    await raw.start()

    async def send(customer: str, partition: int, extra_headers=()) -> None:
        event = new_event(payment_method_added(customer), source="/t")
        headers, value = encode_binary(event)
        await raw.send_and_wait(
            topic, value, partition=partition, headers=[*headers, *extra_headers]
        )
        customers[event.id] = customer

    handled: list[str] = []

    async def handler(events):
        handled.extend(customers[event.id] for event in events)

    try:
        for n in range(3):
            await send(f"p0_{n}", 0)
            await send(f"p1_{n}", 1)
        await send("p2_unreadable", 2, [(NotUtf8("x"), b"1")])
        await send("p2_after", 2)
        broker = KafkaBroker(config.kafka_bootstrap_servers)
        consumer = BatchConsumer(PaymentMethodAdded, handler, dead_letters(config, kafka_producer))
        subscribe(broker, consumer, config)
        await broker.start()
        try:
            await eventually(lambda: len(handled) >= 7, timeout=20)
            await send("p0_later", 0)
            await send("p1_later", 1)
            await eventually(lambda: len(handled) >= 9, timeout=20)
            offsets = {TopicPartition(topic, 0): 4, TopicPartition(topic, 1): 4}
            offsets[TopicPartition(topic, 2)] = 2
            await eventually(lambda: _committed(config, offsets), timeout=20)
        finally:
            await subscription.stop(broker)
    finally:
        await raw.stop()

    expected = {f"p{p}_{n}" for p in (0, 1) for n in (0, 1, 2, "later")} | {"p2_after"}
    assert sorted(handled) == sorted(expected)
    async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as reader:
        [letter] = await reader.settle()
    assert header(letter, "dlq_original_partition") == "2"
    assert header(letter, "dlq_original_offset") == "0"
    assert header(letter, "dlq_unreadable") == "true"
    assert "UnicodeDecodeError" in header(letter, "dlq_error")
    assert letter.value == UNREADABLE_VALUE  # nothing of the record could be read


async def _committed(config, offsets) -> bool:
    committed = await committed_offsets(config, config.group("autopay"))
    return all(committed.get(partition) == offset for partition, offset in offsets.items())
