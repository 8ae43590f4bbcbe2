"""Events are published right after the commit; what that misses, the relay publishes."""

import asyncio

from aiokafka.errors import KafkaConnectionError

from services.common import kafka, outbox
from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC
from tests.integration.autopay.events import payment_method_added
from tests.support import TopicReader, eventually, header

SCHEMA = "autopay"


class BrokerDown:
    async def send(self, *args, **kwargs):
        raise KafkaConnectionError("injected: the broker is down after the commit")


async def committed(pool, events) -> list[outbox.OutboxRecord]:
    async with pool.acquire() as connection, connection.transaction():
        return await outbox.enqueue(connection, SCHEMA, events, notify=False)


async def outbox_rows(pool) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox")


async def test_events_the_publisher_could_not_send_are_published_once_by_the_relay(config, pool):
    events = [payment_method_added("m", f"c{n}") for n in range(5)]
    records = await committed(pool, events)
    failing = outbox.CommittedPublisher(pool, SCHEMA, BrokerDown(), config.topic)
    task = asyncio.create_task(failing.run())
    await failing.submit(records)
    await failing.drain()
    task.cancel()
    assert await outbox_rows(pool) == len(events)

    producer = kafka.make_producer(config)
    await producer.start()
    relay = outbox.OutboxRelay(pool, SCHEMA, producer, config.topic, min_age=1.0)
    assert await relay.publish_pending() == 0, "a row younger than min_age was taken"
    relaying = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _is_zero(outbox_rows(pool)))
        async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as reader:
            published = await reader.settle(quiet=0.5)
    finally:
        relaying.cancel()
        await producer.stop()
    assert sorted(header(record, "ce_id") for record in published) == sorted(e.id for e in events)


async def test_the_publisher_sends_committed_events_and_clears_them_from_the_outbox(config, pool):
    events = [payment_method_added("m", f"c{n}") for n in range(5)]
    producer = kafka.make_producer(config)
    await producer.start()
    publisher = outbox.CommittedPublisher(pool, SCHEMA, producer, config.topic)
    task = asyncio.create_task(publisher.run())
    try:
        await publisher.submit(await committed(pool, events))
        await publisher.drain()
    finally:
        task.cancel()
        await producer.stop()
    async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as reader:
        published = await reader.settle(quiet=0.5)
    assert sorted(header(record, "ce_id") for record in published) == sorted(e.id for e in events)
    assert {(record.key, header(record, "ce_type")) for record in published} == {
        (f"m:c{n}".encode(), "PaymentMethodAdded") for n in range(5)
    }
    assert await outbox_rows(pool) == 0


async def _is_zero(count) -> bool:
    return await count == 0
