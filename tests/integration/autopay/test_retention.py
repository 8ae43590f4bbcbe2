"""Retention: processed event ids are forgotten after DEDUPE_RETENTION_DAYS, not before."""

from services.autopay.repository import purge_processed_events
from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC
from services.common.retention import purge_old
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    settings_changed,
)
from tests.support import TopicReader, eventually, producer, publish


async def test_ids_older_than_the_window_are_purged_and_a_replay_within_it_changes_nothing(
    config, pool
):
    await pool.execute(
        "INSERT INTO autopay.processed_events (event_id, processed_at)"
        " SELECT 'old-' || n, now() - interval '31 days' FROM generate_series(1, 1200) AS n"
    )
    first = payment_method_added("m", "c", "pm_1", box=True)
    later = payment_method_added("m", "c", "pm_2", box=True)
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        producer(config) as client,
    ):
        await eventually(lambda: _forgotten(pool, "old-%"), timeout=20)
        await publish(config, settings_changed("m", 1), first, client=client)
        await choices.wait_for(1)
        await pool.execute(
            "UPDATE autopay.processed_events SET processed_at = now() - interval '29 days'"
            " WHERE event_id = $1",
            first.id,
        )
        await _purge_now(config, pool)

        # The same customer's events share a partition: `later` comes after the replay.
        await publish(config, first, later, client=client)
        await choices.wait_for(2)
        decided = choices_by_cause(await choices.settle())

    assert list(decided) == [first.id, later.id]
    assert await pool.fetchval("SELECT count(*) FROM autopay.processed_events") == 2


async def _forgotten(pool, pattern: str) -> bool:
    """True once no id matching `pattern` is left."""
    return not await pool.fetchval(
        "SELECT count(*) FROM autopay.processed_events WHERE event_id LIKE $1", pattern
    )


async def _purge_now(config, pool) -> None:
    await purge_old(pool, [purge_processed_events], retention=config.dedupe_retention)
