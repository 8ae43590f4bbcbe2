"""The shared delivery machinery over the real broker and PostgreSQL."""

import asyncio
import json

import pytest
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker

from services.common import kafka, outbox
from services.common.consumer import BatchConsumer
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PaymentMethod,
    PaymentMethodAdded,
)
from services.common.envelope import decode, encode_binary, new_event
from services.common.subscription import subscribe_batches
from tests.support import (
    TopicReader,
    eventually,
    header,
    migrated_pool,
    producer,
    publish,
    publish_raw,
)

SCHEMA = "outbox_test"


def payment_method_added(customer_id: str = "c1", **changes) -> PaymentMethodAdded:
    fields = dict(
        merchant_id="m1",
        customer_id=customer_id,
        customer_name="Ada Lovelace",
        payment_method=PaymentMethod(id="pm_1", type="card", brand="visa", last4="4242"),
        channel="customer_portal",
        use_for_autopay=True,
    )
    return PaymentMethodAdded(**(fields | changes))


@pytest.fixture
async def pool(config):
    async with migrated_pool(config.database_url, SCHEMA, outbox.MIGRATIONS) as pool:
        yield pool


async def enqueue(pool, *events):
    async with pool.acquire() as connection, connection.transaction():
        await outbox.enqueue(connection, SCHEMA, events)


async def test_relay_publishes_committed_events_with_their_ids_and_empties_the_outbox(
    config, pool, kafka_producer
):
    events = [new_event(payment_method_added(f"c{n}"), source="/test") for n in range(50)]
    await enqueue(pool, *events)
    relay = outbox.OutboxRelay(pool, SCHEMA, kafka_producer, config.topic)
    task = asyncio.create_task(relay.run())
    try:
        async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as reader:
            records = await reader.wait_for(50)
        await eventually(lambda: pool.fetchval(f"SELECT count(*) = 0 FROM {SCHEMA}.outbox"))
    finally:
        task.cancel()
    assert sorted(header(r, "ce_id") for r in records) == sorted(e.id for e in events)
    first = records[0]
    assert header(first, "content-type") == "application/json"
    assert header(first, "ce_type") == "PaymentMethodAdded"
    assert first.key == f"m1:{json.loads(first.value)['customer_id']}".encode()
    assert decode(first.headers, first.value, PaymentMethodAdded).data.merchant_id == "m1"


async def test_relay_that_fails_before_publishing_keeps_the_event_for_the_next_run(
    config, pool, kafka_producer
):
    class BrokenProducer:
        async def send(self, *args, **kwargs):
            raise KafkaConnectionError("injected: crash between commit and publish")

    event = new_event(payment_method_added(), source="/test")
    await enqueue(pool, event)
    with pytest.raises(KafkaConnectionError):
        await outbox.OutboxRelay(pool, SCHEMA, BrokenProducer(), config.topic).publish_pending()

    assert await outbox.OutboxRelay(pool, SCHEMA, kafka_producer, config.topic).publish_pending()
    async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as reader:
        records = await reader.settle()
    assert [header(r, "ce_id") for r in records] == [event.id]


async def test_invalid_records_are_dead_lettered_and_the_valid_ones_handled(config, kafka_producer):
    handled = []

    async def handler(events):
        handled.extend(event.data.customer_id for event in events)

    dead_letters = kafka.DeadLetters(kafka_producer, config.topic(AUTOPAY_DLQ_TOPIC), "group")
    broker = KafkaBroker(config.kafka_bootstrap_servers)
    subscribe_batches(
        broker,
        BatchConsumer(PaymentMethodAdded, handler, dead_letters),
        topic=config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=config.group("autopay"),
    )
    async with producer(config) as client:
        await publish_raw(config, PAYMENT_METHOD_ADDED_TOPIC, b"not json", client=client)
        full_card = payment_method_added("bad").model_dump(mode="json")
        full_card["payment_method"]["last4"] = "4242424242424242"
        bad = new_event(payment_method_added("bad"), source="/test")
        headers, _ = encode_binary(bad)
        await publish_raw(
            config,
            PAYMENT_METHOD_ADDED_TOPIC,
            json.dumps(full_card).encode(),
            headers=headers,
            client=client,
        )
        await publish(config, new_event(payment_method_added("good"), source="/t"), client=client)
    await broker.start()
    try:
        await eventually(lambda: "good" in handled)
        async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as reader:
            dead = await reader.wait_for(2)
    finally:
        await broker.stop()
    assert handled == ["good"]
    errors = sorted(header(r, "dlq_error") for r in dead)
    assert "payment_method.last4" in errors[0]
    assert "4242424242424242" not in errors[0]
    assert header(dead[0], "dlq_original_topic") == config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    assert {r.value for r in dead} >= {b"not json"}
