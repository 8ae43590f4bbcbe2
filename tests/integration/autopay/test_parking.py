"""Events waiting for their settings version are parked: nobody else waits with them."""

import time

from services.autopay.repository import SCHEMA
from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    profiles,
    settings_changed,
)
from tests.support import TopicReader, eventually, header, publish

ALLOWED = {"allow_customer_autopay_changes": True}


async def parked_count(pool) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.parked_events")


async def test_events_waiting_for_a_version_never_delay_another_merchants_events(config, pool):
    config = config.model_copy(update={"autopay_settings_wait_seconds": 4.0})
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader,
    ):
        await publish(
            config,
            settings_changed("x", 1, **ALLOWED),
            settings_changed("y", 1, **ALLOWED),
            payment_method_added("y", "warm-up", version=1),
        )
        await reader.wait_for(1)

        waiting = [payment_method_added("x", f"c{n}", box=True, version=99) for n in range(3)]
        parked_at = time.monotonic()
        await publish(config, *waiting)
        other = payment_method_added("y", "c1", box=True, version=1)
        sent = time.monotonic()
        await publish(config, other)
        await eventually(lambda: _caused(reader, other.id), timeout=10, interval=0)
        assert time.monotonic() - sent < 1.0
        assert not any(_seen(reader, event.id) for event in waiting)

        choices = choices_by_cause(await reader.wait_for(5, timeout=20))
        assert time.monotonic() - parked_at >= 3.9, "decided before their bound"

    stored = await profiles(config)
    for event in waiting:
        assert (choices[event.id]["settings_version"], choices[event.id]["auto_process"]) == (
            1,
            True,
        )
        assert stored[event.id]["settings_fallback"] is True
    assert await parked_count(pool) == 0


async def _caused(reader: TopicReader, event_id: str) -> bool:
    await reader.read(timeout=0.05)
    return _seen(reader, event_id)


def _seen(reader: TopicReader, event_id: str) -> bool:
    return any(event_id in record.value.decode() for record in reader.records)


async def test_a_parked_event_is_decided_when_its_version_arrives_and_the_customer_follows(
    config,
):
    config = config.model_copy(update={"autopay_settings_wait_seconds": 60.0})
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader,
    ):
        await publish(
            config,
            settings_changed("x", 1, **ALLOWED),
            payment_method_added("x", "warm-up", version=1),
        )
        await reader.wait_for(1)
        first = payment_method_added("x", "c1", "pm_1", version=2)
        behind = payment_method_added("x", "c1", "pm_2", box=False, version=1)
        await publish(config, first, behind)
        assert len(await reader.settle(quiet=1.5)) == 1, "decided before version 2 arrived"

        await publish(
            config, settings_changed("x", 2, **ALLOWED, default_use_for_autopay_checked=True)
        )
        records = await reader.wait_for(3)
        choices = choices_by_cause(records)

    assert [header(r, "ce_subject") for r in records[1:]] == ["x:c1", "x:c1"]
    assert [choices_by_cause([r]).popitem()[0] for r in records[1:]] == [first.id, behind.id]
    assert (choices[first.id]["settings_version"], choices[first.id]["auto_process"]) == (2, True)
    assert (choices[behind.id]["settings_version"], choices[behind.id]["auto_process"]) == (
        1,
        False,
    )
    assert (await profiles(config))[first.id]["settings_fallback"] is False


async def test_a_parked_event_is_kept_across_a_restart(config, pool):
    config = config.model_copy(update={"autopay_settings_wait_seconds": 60.0})
    async with TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader:
        async with autopay_in_process(config):
            await publish(
                config,
                settings_changed("x", 1, **ALLOWED),
                payment_method_added("x", "warm-up", version=1),
            )
            await reader.wait_for(1)
            parked = payment_method_added("x", "c1", box=True, version=2)
            await publish(config, parked)
            await eventually(lambda: _equals(parked_count(pool), 1))
        assert await parked_count(pool) == 1

        await publish(
            config, settings_changed("x", 2, auto_enable_autopay_on_new_payment_method=True)
        )
        async with autopay_in_process(config):
            choices = choices_by_cause(await reader.wait_for(2, timeout=30))

    assert (choices[parked.id]["settings_version"], choices[parked.id]["decided_by"]) == (
        2,
        "merchant_policy",
    )
    assert await parked_count(pool) == 0


async def _equals(value, expected) -> bool:
    return await value == expected
