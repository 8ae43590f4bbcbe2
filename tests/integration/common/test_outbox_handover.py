"""The publisher and the relay never publish the same outbox row, and keep each key's order.

The slow broker is one of the test's own, of the run's engine, so that it can be paused
(SIGSTOP) past the relay's delay while the publisher has records in flight, without
disturbing other tests.
"""

import asyncio
import collections
import contextlib
import functools
import json
import signal

import pytest
from aiokafka.errors import KafkaConnectionError

from services.common import apache_kafka, embedded, kafka, outbox
from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC
from services.common.kafka import create_topics
from tests.infrastructure import kafka_kind
from tests.integration.autopay.events import payment_method_added
from tests.support import TopicReader, eventually, header, migrated_pool

SCHEMA = "handover_test"
CUSTOMERS = [f"c{n}" for n in range(4)]
RELAY_DELAY = 0.5


@pytest.fixture
def pausable_broker(tmp_path):
    """A broker of this run's engine, of this test's own: (its address, its process)."""
    if kafka_kind() == "embedded":
        port = embedded.free_port()
        process = embedded.start_broker(port, tmp_path / "broker.log")
        address, stop = f"127.0.0.1:{port}", functools.partial(embedded.stop_process, process)
    else:
        cluster = apache_kafka.Cluster(tmp_path, 1)
        cluster.start()
        process, address, stop = cluster.nodes[0].process, cluster.bootstrap_servers, cluster.stop
    yield address, process
    process.send_signal(signal.SIGCONT)
    stop()


@pytest.fixture
async def private_config(config, pausable_broker):
    address, _ = pausable_broker
    private = config.model_copy(update={"kafka_bootstrap_servers": address})
    await create_topics(private)
    return private


@pytest.fixture
async def pool(config):
    async with migrated_pool(config.database_url, SCHEMA, outbox.MIGRATIONS) as pool:
        yield pool


@contextlib.contextmanager
def paused(process):
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


@contextlib.asynccontextmanager
async def publisher_and_relay(pool, config, producer):
    """The autopay wiring: a publisher after each commit, a relay for what it leaves."""
    publisher = outbox.CommittedPublisher(pool, SCHEMA, producer, config.topic)
    relay = outbox.OutboxRelay(
        pool, SCHEMA, producer, config.topic, min_age=RELAY_DELAY, poll_interval=0.1
    )
    tasks = [asyncio.create_task(publisher.run()), asyncio.create_task(relay.run())]
    try:
        yield publisher
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def commit_and_submit(pool, publisher, rounds: int) -> list:
    """`rounds` transactions, each with one event per customer; returns the events in order."""
    events = []
    for _ in range(rounds):
        batch = [payment_method_added("m", customer) for customer in CUSTOMERS]
        async with pool.acquire() as connection, connection.transaction():
            records = await outbox.enqueue(connection, SCHEMA, batch, notify=False)
        await publisher.submit(records)
        events += batch
    return events


async def published_once_in_order(pool, config, events) -> None:
    await eventually(lambda: pool.fetchval(f"SELECT count(*) = 0 FROM {SCHEMA}.outbox"), timeout=30)
    async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as reader:
        await reader.wait_for(len(events), timeout=30)
        records = await reader.settle(quiet=1.5)
    ids = [header(record, "ce_id") for record in records]
    repeated = {id_: n for id_, n in collections.Counter(ids).items() if n > 1}
    assert repeated == {}, f"{len(repeated)} records published more than once"
    assert sorted(ids) == sorted(event.id for event in events)
    for customer in CUSTOMERS:
        sent = [e.id for e in events if e.data.customer_id == customer]
        arrived = [
            header(r, "ce_id") for r in records if json.loads(r.value)["customer_id"] == customer
        ]
        assert arrived == sent, f"{customer}'s events out of order"


async def test_a_broker_paused_past_the_relay_delay_gets_each_outbox_record_once_in_order(
    private_config, pausable_broker, pool
):
    _, process = pausable_broker
    producer = kafka.make_producer(private_config)
    await producer.start()
    try:
        await producer.partitions_for(private_config.topic(PAYMENT_METHOD_ADDED_TOPIC))
        async with publisher_and_relay(pool, private_config, producer) as publisher:
            with paused(process):
                events = await commit_and_submit(pool, publisher, rounds=3)
                # Long enough for the relay to find every row older than its delay.
                await asyncio.sleep(RELAY_DELAY * 6)
            events += await commit_and_submit(pool, publisher, rounds=2)
            await published_once_in_order(pool, private_config, events)
    finally:
        await producer.stop()


class FailsOnce:
    """The real producer, whose first record batch fails as if the broker dropped it."""

    def __init__(self, producer) -> None:
        self._producer = producer
        self._failed = False

    def __getattr__(self, name):
        return getattr(self._producer, name)

    async def send_batch(self, *args, **kwargs):
        if not self._failed:
            self._failed = True
            raise KafkaConnectionError("injected: the connection dropped")
        return await self._producer.send_batch(*args, **kwargs)


async def test_after_a_failed_publish_a_customers_later_events_wait_for_the_relay(
    config, kafka_producer, pool
):
    async with publisher_and_relay(pool, config, FailsOnce(kafka_producer)) as publisher:
        events = await commit_and_submit(pool, publisher, rounds=1)
        await publisher.drain()
        events += await commit_and_submit(pool, publisher, rounds=3)
        await published_once_in_order(pool, config, events)
