"""A change committed but not yet published survives a relay crash and is published once."""

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError

from services.common import outbox
from services.common.contract import SETTINGS_CHANGED_TOPIC
from services.settings.app import MIGRATIONS
from services.settings.domain import DEFAULT_CONTENT, Content
from services.settings.repository import SCHEMA, PostgresStore
from services.settings.service import SettingsService
from tests.support import TopicReader, eventually, header, migrated_pool

ALLOW = Content(
    DEFAULT_CONTENT.settings.model_copy(update={"allow_customer_autopay_changes": True}),
    DEFAULT_CONTENT.notification,
)


class CrashBeforePublishing:
    async def send(self, *args, **kwargs):
        raise KafkaConnectionError("injected: the relay dies between commit and publish")


class CrashAfterPublishing:
    """Publishes, then dies before the relay can delete the rows it published."""

    def __init__(self, producer) -> None:
        self._producer = producer

    async def send(self, *args, **kwargs):
        await (await self._producer.send(*args, **kwargs))
        raise KafkaConnectionError("injected: the relay dies before recording the publish")


@pytest.fixture
async def pool(config):
    async with migrated_pool(config.database_url, SCHEMA, *MIGRATIONS) as pool:
        yield pool


async def save_one_change(pool) -> str:
    """Commit one change with no relay running; return the id of its event."""
    await SettingsService(PostgresStore(pool)).replace(
        "m1", ALLOW, expected_version=None, actor="ada"
    )
    return await pool.fetchval("SELECT event_id FROM settings.versions WHERE version = 1")


async def run_relay_until_outbox_empty(config, pool, producer) -> None:
    relay = outbox.OutboxRelay(pool, SCHEMA, producer, config.topic, poll_interval=0.1)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(
            lambda: pool.fetchval("SELECT count(*) = 0 FROM settings.outbox"), timeout=10
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_relay_that_dies_before_publishing_leaves_the_event_for_its_restart(
    config, pool, kafka_producer
):
    event_id = await save_one_change(pool)
    with pytest.raises(KafkaConnectionError):
        await outbox.OutboxRelay(
            pool, SCHEMA, CrashBeforePublishing(), config.topic
        ).publish_pending()
    assert await pool.fetchval("SELECT count(*) FROM settings.outbox") == 1

    await run_relay_until_outbox_empty(config, pool, kafka_producer)

    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        records = await reader.settle()
    assert [header(record, "ce_id") for record in records] == [event_id]


async def test_a_relay_that_dies_after_publishing_repeats_the_same_event_id(
    config, pool, kafka_producer
):
    event_id = await save_one_change(pool)
    with pytest.raises(KafkaConnectionError):
        await outbox.OutboxRelay(
            pool, SCHEMA, CrashAfterPublishing(kafka_producer), config.topic
        ).publish_pending()

    await run_relay_until_outbox_empty(config, pool, kafka_producer)

    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        records = await reader.settle()
    # At-least-once on the topic, exactly once by id: consumers dedupe on ce_id.
    assert {header(record, "ce_id") for record in records} == {event_id}
    assert len(records) == 2
