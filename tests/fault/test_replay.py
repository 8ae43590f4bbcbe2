"""An operator replays every topic: the groups' offsets reset with Kafka's own tool."""

import asyncio
import subprocess

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from services.autopay.subscribers import payment_methods_group, settings_group
from services.common import kafka_jars
from services.common.config import Config
from services.notifier import subscribers as notifier
from tests.fault.harness import System, running
from tests.support import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not kafka_jars.can_run(), reason="Kafka's tools need Java and jars"),
]

RESET_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


async def test_a_replay_from_the_earliest_offsets_changes_no_profile_and_sends_nothing(
    fault_config, smtp_server, records
):
    system = System(fault_config)
    groups = _groups(fault_config)
    async with running(system, fault_config, smtp_server) as outcomes:
        before = await outcomes.check(await system.stream(records))
        system.stop()  # the tool resets only the offsets of a group without members
        await asyncio.to_thread(_reset_to_earliest, fault_config, groups)
        assert await _committed(fault_config, groups) == {0}
        await system.start()
        await eventually(lambda: _caught_up(fault_config, groups), timeout=60, interval=0.5)
        after = await outcomes.observe()

    assert after.profiles == before.profiles
    assert _ids(after.choices) == _ids(before.choices)
    assert len(after.emails) == len(before.emails)
    assert after.autopay_dlq == before.autopay_dlq
    assert after.notifier_dlq == before.notifier_dlq


def _groups(config: Config) -> list[str]:
    return [payment_methods_group(config), settings_group(config), *notifier.groups(config)]


def _reset_to_earliest(config: Config, groups: list[str]) -> None:
    """`kafka-consumer-groups --reset-offsets --to-earliest --all-topics --execute`."""
    selection = [argument for group in groups for argument in ("--group", group)]
    command = kafka_jars.java_command(
        RESET_TOOL,
        "--bootstrap-server",
        config.kafka_bootstrap_servers,
        *selection,
        "--reset-offsets",
        "--to-earliest",
        "--all-topics",
        "--execute",
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


async def _committed(config: Config, groups: list[str]) -> set[int]:
    """Every committed offset of `groups`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = [await admin.list_consumer_group_offsets(group) for group in groups]
    finally:
        await admin.close()
    return {meta.offset for committed in offsets for meta in committed.values()}


async def _caught_up(config: Config, groups: list[str]) -> bool:
    """Each group has committed the end of every partition it reads: the replay is over."""
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=config.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed))
            if any(meta.offset < ends[partition] for partition, meta in committed.items()):
                return False
        return True
    finally:
        await consumer.stop()
        await admin.close()


def _ids(choices) -> set[bytes]:
    return {value for record in choices for name, value in record.headers if name == "ce_id"}
