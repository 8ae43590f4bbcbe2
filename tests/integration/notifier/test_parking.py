"""Choices waiting for their settings version are parked: nobody else waits with them."""

import time

import asyncpg
import pytest

from services.notifier import app
from tests.integration.notifier.helpers import (
    choice_recorded,
    project,
    recorder,
    settings_changed,
    unique,
)
from tests.integration.notifier.test_app import running_notifier, wait_for_emails
from tests.support import eventually, migrated_pool, publish


async def recorded(config, *events) -> dict[str, int]:
    """recipients_version by event id, of the events recorded (decided) so far."""
    connection = await asyncpg.connect(config.database_url)
    try:
        return await recipients_versions(connection, *events)
    finally:
        await connection.close()


async def parked_count(config) -> int:
    connection = await asyncpg.connect(config.database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM notifier.parked_events")
    finally:
        await connection.close()


async def test_choices_waiting_for_a_version_never_delay_another_merchants_choices(
    notifier_config, smtp_server
):
    config = notifier_config.model_copy(update={"notifier_settings_wait_seconds": 4.0})
    x, y = unique("x"), unique("y")
    async with running_notifier(config):
        warm_up = choice_recorded(y)
        await publish(
            config,
            settings_changed(x, ["x@x.example"]),
            settings_changed(y, ["y@y.example"]),
            warm_up,
        )
        await eventually(lambda: recorded(config, warm_up), timeout=30)

        waiting = [choice_recorded(x, settings_version=99) for _ in range(3)]
        parked_at = time.monotonic()
        await publish(config, *waiting)
        other = choice_recorded(y)
        sent = time.monotonic()
        await publish(config, other)
        await eventually(lambda: recorded(config, other), timeout=10, interval=0.01)
        assert time.monotonic() - sent < 1.0
        assert await recorded(config, *waiting) == {}

        decided = await eventually(lambda: _all(recorded(config, *waiting), 3), timeout=20)
        assert time.monotonic() - parked_at >= 3.9, "decided before their bound"
        emails = await wait_for_emails(smtp_server, 5)

    assert set(decided.values()) == {1}
    assert sorted(m["To"] for m in emails).count("x@x.example") == 3
    assert await parked_count(config) == 0


async def _all(result, count: int):
    found = await result
    return found if len(found) == count else None


async def test_a_parked_choice_is_kept_across_a_restart_and_decided_when_its_version_arrives(
    notifier_config, smtp_server
):
    config = notifier_config.model_copy(update={"notifier_settings_wait_seconds": 60.0})
    merchant = unique("m")
    parked = choice_recorded(merchant, settings_version=2)
    async with running_notifier(config):
        await publish(config, settings_changed(merchant, ["old@x.example"]), parked)
        await eventually(lambda: _equals(parked_count(config), 1), timeout=30)
    assert await parked_count(config) == 1

    await publish(config, settings_changed(merchant, ["new@x.example"], version=2))
    async with running_notifier(config):
        emails = await wait_for_emails(smtp_server, 1)
        assert await recorded(config, parked) == {parked.id: 2}

    assert [m["To"] for m in emails] == ["new@x.example"]
    assert await parked_count(config) == 0


async def _equals(value, expected) -> bool:
    return await value == expected


@pytest.fixture
async def pool(database_url):
    async with migrated_pool(database_url, app.SCHEMA, *app.MIGRATIONS) as pool:
        yield pool


async def test_a_customers_later_choice_waits_behind_its_parked_one_and_others_do_not(pool):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["a@x.example"]))
    choices = recorder(pool)
    first = choice_recorded(merchant, settings_version=2)
    behind = choice_recorded(merchant, customer_id=first.data.customer_id)
    other = choice_recorded(merchant)

    await choices([first, behind, other])
    assert await recipients_versions(pool, first, behind, other) == {other.id: 1}

    await project(pool, settings_changed(merchant, ["b@x.example"], version=2))
    assert await choices.release_parked()
    assert await recipients_versions(pool, first, behind, other) == {
        first.id: 2,
        behind.id: 2,
        other.id: 1,
    }


async def recipients_versions(connection, *events) -> dict[str, int]:
    rows = await connection.fetch(
        "SELECT event_id, recipients_version FROM notifier.choices WHERE event_id = ANY($1)",
        [event.id for event in events],
    )
    return {row["event_id"]: row["recipients_version"] for row in rows}
