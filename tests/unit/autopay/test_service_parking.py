"""The settings wait over a store in memory: an event naming a version not projected yet is
parked, with its customer's later events, and decided when the version arrives or its bound
passes."""

from datetime import timedelta

import pytest

from services.autopay.service import AutopayService
from tests.integration.autopay.events import payment_method_added, settings_changed
from tests.unit.autopay.fakes import FakePublisher, FakeStore

ALLOWED = {"allow_customer_autopay_changes": True}
WAIT = 5.0


async def autopay() -> tuple[AutopayService, FakeStore, FakePublisher]:
    """Merchant m has settings version 1, where customers decide (box unchecked by default)."""
    store, published = FakeStore(settings_wait=WAIT), FakePublisher()
    service = AutopayService(store, published, settings_wait=WAIT)
    await service.record_settings([settings_changed("m", 1, **ALLOWED)])
    return service, store, published


async def test_an_event_naming_an_unseen_version_is_parked_and_decides_nothing_yet():
    service, store, published = await autopay()
    early = payment_method_added("m", "c1", version=2)

    await service.record_payment_methods([early])

    assert store.state.parked.event_ids == [early.id]
    assert early.id in store.state.processed
    assert (published.records, store.state.profiles) == ([], {})
    assert not await service.release_parked()
    assert await service.seconds_to_next_bound() == WAIT


async def test_a_parked_event_is_decided_with_its_version_once_it_arrives():
    service, store, published = await autopay()
    early = payment_method_added("m", "c1", version=2)
    await service.record_payment_methods([early])

    await service.record_settings(
        [settings_changed("m", 2, **ALLOWED, default_use_for_autopay_checked=True)]
    )
    assert await service.release_parked()

    choice = published.choices()[early.id]
    assert (choice["settings_version"], choice["auto_process"]) == (2, True)
    assert store.state.parked.event_ids == []
    assert not store.state.profiles[("m", "c1", "pm_1")][0].settings_fallback


async def test_a_parked_event_past_its_bound_is_decided_with_the_latest_settings_as_a_fallback():
    service, store, published = await autopay()
    never = payment_method_added("m", "c1", box=True, version=7)
    await service.record_payment_methods([never])

    store.clock.advance(WAIT)
    assert await service.release_parked()

    assert published.choices()[never.id]["settings_version"] == 1
    stored = store.state.profiles[("m", "c1", "pm_1")][0]
    assert (stored.settings_version, stored.settings_fallback, stored.auto_process) == (
        1,
        True,
        True,
    )
    assert await service.seconds_to_next_bound() is None


async def test_later_events_of_a_parked_customer_park_behind_it_and_leave_in_order():
    service, _, published = await autopay()
    first = payment_method_added("m", "c1", "pm_1", version=2)
    same_batch = payment_method_added("m", "c1", "pm_2", box=False, version=1)
    await service.record_payment_methods([first, same_batch])
    next_batch = payment_method_added("m", "c1", "pm_3", box=True, version=1)
    await service.record_payment_methods([next_batch])
    assert published.records == []

    await service.record_settings([settings_changed("m", 2, **ALLOWED)])
    assert await service.release_parked()

    assert published.causes() == [first.id, same_batch.id, next_batch.id]
    assert published.choices()[same_batch.id]["settings_version"] == 1


async def test_another_customers_events_are_decided_while_one_waits():
    service, store, published = await autopay()
    waiting = payment_method_added("m", "c1", version=2)
    other = payment_method_added("m", "c2", box=True, version=1)

    await service.record_payment_methods([waiting, other])

    assert published.causes() == [other.id]
    assert store.state.parked.event_ids == [waiting.id]


async def test_a_parked_event_delivered_again_is_parked_once_and_counted_as_a_duplicate():
    service, store, _ = await autopay()
    early = payment_method_added("m", "c1", version=2)
    await service.record_payment_methods([early])

    assert await service.record_payment_methods([early]) == 1

    assert store.state.parked.event_ids == [early.id]


async def test_a_parked_event_older_than_the_decision_made_meanwhile_changes_nothing():
    service, store, published = await autopay()
    decided = payment_method_added("m", "c1", box=True, version=1)
    await service.record_payment_methods([decided])
    late = payment_method_added("m", "c1", box=False, version=2)
    late.time = decided.time - timedelta(minutes=1)
    await service.record_payment_methods([late])

    await service.record_settings([settings_changed("m", 2, **ALLOWED)])
    assert await service.release_parked()

    assert published.causes() == [decided.id]
    assert store.state.processed[late.id] is True
    assert store.state.parked.event_ids == []


async def test_with_no_wait_allowed_an_unseen_version_is_decided_at_once_with_the_latest():
    store, published = FakeStore(settings_wait=0), FakePublisher()
    service = AutopayService(store, published, settings_wait=0)
    await service.record_settings([settings_changed("m", 1, **ALLOWED)])
    never = payment_method_added("m", "c1", box=True, version=7)

    await service.record_payment_methods([never])

    assert published.choices()[never.id]["settings_version"] == 1
    assert store.state.parked.event_ids == []


async def test_a_failed_release_keeps_the_events_parked_for_the_next_try():
    service, store, published = await autopay()
    early = payment_method_added("m", "c1", version=2)
    await service.record_payment_methods([early])
    await service.record_settings([settings_changed("m", 2, **ALLOWED)])

    store.fail_next_commit()
    with pytest.raises(ConnectionError, match="injected"):
        await service.release_parked()
    assert (store.state.parked.event_ids, published.records) == ([early.id], [])

    assert await service.release_parked()
    assert published.causes() == [early.id]
