"""Late events, repeats and the settings cache: the stored profile follows the newest event."""

from datetime import timedelta

from services.autopay.repository import SCHEMA
from services.autopay.service import AutopayService
from services.autopay.store import PostgresStore
from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    settings_changed,
)
from tests.support import TopicReader, eventually, publish
from tests.unit.autopay.fakes import FakePublisher

ALLOWED = {"allow_customer_autopay_changes": True}


async def stored_profile(pool, customer_id: str) -> dict:
    row = await pool.fetchrow(
        f"SELECT auto_process, decided_by, settings_version, settings_fallback, caused_by"
        f" FROM {SCHEMA}.payment_profiles WHERE customer_id = $1",
        customer_id,
    )
    return dict(row) if row else {}


async def test_an_older_event_for_a_decided_payment_method_changes_nothing(config, pool):
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader,
    ):
        newer = payment_method_added("m", "c1", box=True, version=1)
        await publish(config, settings_changed("m", 1, **ALLOWED), newer)
        await reader.wait_for(1)

        older = payment_method_added("m", "c1", box=False, version=1)
        older.time = newer.time - timedelta(minutes=5)  # re-sent from a DLQ, say
        await publish(config, older)
        await eventually(lambda: _is_recorded_late(pool, older.id))
        choices = choices_by_cause(await reader.settle())

    assert list(choices) == [newer.id]
    assert await stored_profile(pool, "c1") == {
        "auto_process": True,
        "decided_by": "customer",
        "settings_version": 1,
        "settings_fallback": False,
        "caused_by": newer.id,
    }


async def _is_recorded_late(pool, event_id: str) -> bool:
    query = f"SELECT late FROM {SCHEMA}.processed_events WHERE event_id = $1"
    return bool(await pool.fetchval(query, event_id))


async def test_an_event_without_ce_time_is_never_late_and_the_next_one_follows_it(pool):
    # Over PostgreSQL: the profiles' upsert has its own guard against older events, which
    # must let a missing time through on either side.
    published = FakePublisher()
    service = AutopayService(PostgresStore(pool, settings_wait=0), published, settings_wait=0)
    await service.record_settings([settings_changed("m", 1, **ALLOWED)])
    first = payment_method_added("m", "c1", box=True, version=1)
    untimed = payment_method_added("m", "c1", box=False, version=1)
    untimed.time = None
    older = payment_method_added("m", "c1", box=True, version=1)
    older.time = first.time - timedelta(minutes=5)

    await service.record_payment_methods([first])
    await service.record_payment_methods([untimed])
    await service.record_payment_methods([older])

    assert published.causes() == [first.id, untimed.id, older.id]
    profile = await stored_profile(pool, "c1")
    assert (profile["auto_process"], profile["caused_by"]) == (True, older.id)
