"""SIGTERM, as an orchestrator sends it: each service stops cleanly, exits 0, loses nothing."""

import time

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.autopay.subscribers import payment_methods_group
from services.common.config import Config
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    SETTINGS_CHANGED_TOPIC,
)
from services.common.embedded import free_port
from tests.auth import bearer
from tests.integration.autopay import events as autopay_events
from tests.integration.notifier.helpers import choice_recorded, settings_changed, unique
from tests.support import ServiceProcess, TopicReader, eventually, publish

GRACE_SECONDS = 10


def stop_within_grace(service: ServiceProcess) -> int:
    started = time.monotonic()
    code = service.stop()
    assert time.monotonic() - started < GRACE_SECONDS, "the stop outlasted the grace period"
    return code


async def test_settings_stopped_by_sigterm_exits_0_with_the_saved_change_published(config):
    service = ServiceProcess("settings", config, free_port()).start()
    try:
        await service.wait_ready()
        async with httpx.AsyncClient(
            base_url=service.url, timeout=5, headers=bearer("shop-1")
        ) as client:
            saved = await client.patch(
                "/v1/merchants/shop-1/portal-settings",
                json={"settings": {"allow_customer_autopay_changes": True}},
            )
            assert saved.status_code == 200
    finally:
        assert stop_within_grace(service) == 0, service.log()
    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        assert len(await reader.wait_for(1)) == 1


async def test_autopay_stopped_by_sigterm_exits_0_with_its_offsets_committed(config):
    event = autopay_events.payment_method_added("m", "c", box=True)
    await publish(config, autopay_events.settings_changed("m", 1), event)
    service = ServiceProcess("autopay", config, free_port()).start()
    try:
        await service.wait_ready()
        async with TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader:
            await reader.wait_for(1, timeout=30)
    finally:
        assert stop_within_grace(service) == 0, service.log()
    assert event.id in await autopay_events.profiles(config)
    assert await _committed_to_the_end(config, PAYMENT_METHOD_ADDED_TOPIC)


async def test_notifier_stopped_by_sigterm_exits_0_with_its_email_marked_sent(config, smtp_server):
    merchant = unique("m")
    await publish(config, settings_changed(merchant, ["a@x.example"]), choice_recorded(merchant))
    service = ServiceProcess("notifier", config, free_port(), SMTP_URL=smtp_server.url).start()
    try:
        await service.wait_ready()
        await eventually(smtp_server.received, timeout=30)
    finally:
        assert stop_within_grace(service) == 0, service.log()
    assert await _email_statuses(config) == ["sent"]


async def _committed_to_the_end(config: Config, topic: str) -> bool:
    """Whether the autopay group's committed offsets reach the end of every partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.kafka_bootstrap_servers,
        group_id=payment_methods_group(config),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(config.topic(topic), n) for n in range(config.kafka_topic_partitions)
        ]
        ends = await consumer.end_offsets(partitions)
        return all([end == (await consumer.committed(p) or 0) for p, end in ends.items()])
    finally:
        await consumer.stop()


async def _email_statuses(config: Config) -> list[str]:
    connection = await asyncpg.connect(config.database_url)
    try:
        return [
            row["status"] for row in await connection.fetch("SELECT status FROM notifier.emails")
        ]
    finally:
        await connection.close()
