"""Interoperability with the CloudEvents Python SDK's Kafka binding, over the real broker."""

import asyncio

from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from cloudevents.v1 import kafka as sdk_v1_kafka
from cloudevents.v1.http import CloudEvent as SdkV1Event
from faststream.kafka import KafkaBroker

from services.common import kafka, outbox
from services.common.consumer import BatchConsumer
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PaymentMethodAdded,
)
from services.common.envelope import new_event
from services.common.subscription import subscribe_batches
from tests.integration.common.test_outbox_and_consumer import SCHEMA, payment_method_added
from tests.support import TopicReader, eventually, migrated_pool, producer


def sdk_records() -> dict[str, sdk_kafka.KafkaMessage]:
    """The same event as the SDK writes it in each mode, by the id it carries."""
    data = payment_method_added().model_dump(mode="json")
    attributes = {"type": "PaymentMethodAdded", "source": "/sdk"}
    return {
        "binary": sdk_kafka.to_binary_event(SdkEvent({**attributes, "id": "binary"}, data)),
        "structured": sdk_kafka.to_structured_event(
            SdkEvent({**attributes, "id": "structured"}, data)
        ),
        # The older API names no cloudevents content type: the absence of `ce_` headers is
        # what says it is structured.
        "v1-structured": sdk_v1_kafka.to_structured(
            SdkV1Event({**attributes, "id": "v1-structured"}, data)
        ),
        "v1-structured-json": sdk_v1_kafka.to_structured(
            SdkV1Event(
                {**attributes, "id": "v1-structured-json", "datacontenttype": "application/json"},
                data,
            )
        ),
        "v1-binary": sdk_v1_kafka.to_binary(
            SdkV1Event(
                {**attributes, "id": "v1-binary", "datacontenttype": "application/json"}, data
            )
        ),
    }


async def test_the_sdks_binary_and_structured_records_are_accepted(config, kafka_producer):
    handled = []

    async def handler(events):
        handled.extend(event.id for event in events)

    dead_letters = kafka.DeadLetters(kafka_producer, config.topic(AUTOPAY_DLQ_TOPIC), "group")
    broker = KafkaBroker(config.kafka_bootstrap_servers)
    subscribe_batches(
        broker,
        BatchConsumer(PaymentMethodAdded, handler, dead_letters),
        topic=config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=config.group("autopay"),
    )
    records = sdk_records()
    async with producer(config) as client:
        for message in records.values():
            await client.send_and_wait(
                config.topic(PAYMENT_METHOD_ADDED_TOPIC),
                value=message.value,
                key=b"m1:c1",
                headers=list(message.headers.items()),
            )
    await broker.start()
    try:
        await eventually(lambda: len(handled) >= len(records))
    finally:
        await broker.stop()
    async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead:
        assert await dead.settle() == []
    assert sorted(handled) == sorted(records)


async def test_the_sdk_reads_what_we_publish(config, kafka_producer):
    event = new_event(payment_method_added(), source="/autopay", subject="m1")
    async with migrated_pool(config.database_url, SCHEMA, outbox.MIGRATIONS) as pool:
        async with pool.acquire() as connection, connection.transaction():
            await outbox.enqueue(connection, SCHEMA, [event])
        [record] = await published_by_the_relay(config, pool, kafka_producer)
    message = sdk_kafka.KafkaMessage(dict(record.headers), record.key, record.value)

    read = sdk_kafka.from_binary(message, JSONFormat())
    read_by_v1 = sdk_v1_kafka.from_binary(
        sdk_v1_kafka.KafkaMessage(message.headers, message.key, message.value)
    )

    assert (read.get_id(), read.get_type(), read.get_source()) == (
        event.id,
        "PaymentMethodAdded",
        "/autopay",
    )
    assert (read.get_subject(), read.get_time()) == ("m1", event.time)
    assert read.get_datacontenttype() == "application/json"
    assert read.get_data() == event.data.model_dump(mode="json")
    assert (read_by_v1["id"], read_by_v1.data) == (event.id, read.get_data())


async def published_by_the_relay(config, pool, kafka_producer) -> list:
    relay = outbox.OutboxRelay(pool, SCHEMA, kafka_producer, config.topic)
    task = asyncio.create_task(relay.run())
    try:
        async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as reader:
            return await reader.wait_for(1)
    finally:
        task.cancel()
