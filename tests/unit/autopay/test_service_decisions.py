"""The autopay use-cases over a store in memory: decisions, duplicates, late events."""

from datetime import timedelta

from services.autopay.service import AutopayService
from tests.integration.autopay.events import payment_method_added, settings_changed
from tests.unit.autopay.fakes import FakePublisher, FakeStore

ALLOWED = {"allow_customer_autopay_changes": True}


def autopay(**options) -> tuple[AutopayService, FakeStore, FakePublisher]:
    store, published = FakeStore(), FakePublisher()
    return AutopayService(store, published, settings_wait=0, **options), store, published


def profile(store: FakeStore, customer_id: str, payment_method_id: str = "pm_1"):
    return store.state.profiles[("m", customer_id, payment_method_id)][0]


async def test_each_row_of_the_decision_table_is_decided_with_the_version_the_customer_saw():
    service, store, published = autopay()
    await service.record_settings(
        [
            settings_changed("m", 1, **ALLOWED, default_use_for_autopay_checked=True),
            settings_changed("m", 2, auto_enable_autopay_on_new_payment_method=True),
            settings_changed("m", 3, auto_enable_autopay_on_payment_link=True),
        ]
    )
    rows = [
        # event → auto_process, decided_by, box_default_checked, settings_version, box ignored
        (payment_method_added("m", "c1", box=True, version=1), (True, "customer", True, 1, False)),
        (
            payment_method_added("m", "c2", box=False, version=1),
            (False, "customer", True, 1, False),
        ),
        (payment_method_added("m", "c3", version=1), (True, "customer", True, 1, False)),
        (payment_method_added("m", "c4", version=2), (True, "merchant_policy", None, 2, False)),
        (
            payment_method_added("m", "c5", box=False, version=2),
            (True, "merchant_policy", None, 2, True),
        ),
        (
            payment_method_added("m", "c6", box=True, version=3),
            (False, "merchant_policy", None, 3, True),
        ),
        (
            payment_method_added("m", "c7", channel="payment_link", version=3),
            (True, "merchant_policy", None, 3, False),
        ),
        (
            payment_method_added("m", "c8", channel="payment_link"),
            (True, "merchant_policy", None, 3, False),
        ),
        (payment_method_added("b", "c1", box=True), (False, "merchant_policy", None, 0, True)),
    ]

    assert await service.record_payment_methods([event for event, _ in rows]) == 0

    choices = published.choices()
    for event, expected in rows:
        choice = choices[event.id]
        stored = store.state.profiles[(event.data.merchant_id, event.data.customer_id, "pm_1")][0]
        outcome = (
            choice["auto_process"],
            choice["decided_by"],
            choice["box_default_checked"],
            choice["settings_version"],
            stored.box_ignored,
        )
        assert outcome == expected, event.data.customer_id
        assert (stored.auto_process, stored.caused_by) == (choice["auto_process"], event.id)
    assert published.records == store.state.outbox


async def test_a_payment_method_saved_where_portal_settings_do_not_apply_decides_nothing():
    service, store, published = autopay()
    events = [
        payment_method_added("m", "c1", channel="merchant_dashboard", box=True),
        payment_method_added("m", "c2", channel="api", version=1),
    ]

    await service.record_payment_methods(events)

    assert store.state.processed == {events[0].id: False, events[1].id: False}
    assert (store.state.profiles, published.records) == ({}, [])


async def test_an_event_twice_in_a_batch_is_decided_once_and_counted_as_a_duplicate():
    service, _, published = autopay()
    event = payment_method_added("m", "c1", box=True)

    assert await service.record_payment_methods([event, event]) == 1

    assert published.causes() == [event.id]


async def test_an_event_seen_in_an_earlier_batch_changes_nothing_and_is_counted():
    service, store, published = autopay()
    await service.record_settings([settings_changed("m", 1, **ALLOWED)])
    first = payment_method_added("m", "c1", box=True, version=1)
    await service.record_payment_methods([first])

    second = payment_method_added("m", "c1", box=False, version=1)
    assert await service.record_payment_methods([second, first]) == 1

    assert published.causes() == [first.id, second.id]
    assert (profile(store, "c1").auto_process, profile(store, "c1").caused_by) == (False, second.id)


async def test_the_last_event_of_a_batch_for_a_payment_method_decides_its_profile():
    service, store, published = autopay()
    await service.record_settings([settings_changed("m", 1, **ALLOWED)])
    ticked = payment_method_added("m", "c1", box=True, version=1)
    unticked = payment_method_added("m", "c1", box=False, version=1)

    await service.record_payment_methods([ticked, unticked])

    assert published.causes() == [ticked.id, unticked.id]
    assert profile(store, "c1").caused_by == unticked.id


async def test_an_older_event_for_a_decided_payment_method_changes_nothing_and_is_noted_late():
    service, store, published = autopay()
    newer = payment_method_added("m", "c1", box=True)
    await service.record_payment_methods([newer])
    older = payment_method_added("m", "c1", box=False)
    older.time = newer.time - timedelta(minutes=5)  # re-sent from a DLQ, say
    older_in_one_batch = payment_method_added("m", "c2")
    newer_in_one_batch = payment_method_added("m", "c2")
    older_in_one_batch.time = newer_in_one_batch.time - timedelta(seconds=1)

    await service.record_payment_methods([older, newer_in_one_batch, older_in_one_batch])

    assert published.causes() == [newer.id, newer_in_one_batch.id]
    assert profile(store, "c1").caused_by == newer.id
    assert profile(store, "c2").caused_by == newer_in_one_batch.id
    assert store.state.processed[older.id] is True
    assert store.state.processed[older_in_one_batch.id] is True


async def test_an_event_without_ce_time_is_never_late_and_the_next_one_follows_it():
    service, store, published = autopay()
    first = payment_method_added("m", "c1", box=True)
    untimed = payment_method_added("m", "c1", box=False)
    untimed.time = None
    older = payment_method_added("m", "c1", box=True)
    older.time = first.time - timedelta(minutes=5)

    for event in (first, untimed, older):
        await service.record_payment_methods([event])

    assert published.causes() == [first.id, untimed.id, older.id]
    assert profile(store, "c1").caused_by == older.id


async def test_a_cache_of_no_versions_still_decides_with_the_named_version():
    service, store, _ = autopay(versions_kept=0)
    await service.record_settings(
        [settings_changed("m", 1, **ALLOWED), settings_changed("m", 2), settings_changed("n", 1)]
    )
    await service.record_payment_methods([payment_method_added("m", "c0", version=1)])

    # A chunk naming a version not cached (n's) and one that was (m's version 1).
    await service.record_payment_methods(
        [
            payment_method_added("n", "c9", version=1),
            payment_method_added("m", "c1", box=True, version=1),
        ]
    )

    stored = profile(store, "c1")
    assert (stored.auto_process, stored.decided_by) == (True, "customer")
    assert (stored.settings_version, stored.settings_fallback) == (1, False)


async def test_a_customers_profiles_are_read_in_the_order_they_were_decided():
    service, store, _ = autopay()
    await service.record_payment_methods([payment_method_added("m", "c1", "pm_2", box=True)])
    store.clock.advance(1)
    await service.record_payment_methods([payment_method_added("m", "c1", "pm_1", box=True)])

    profiles = await service.profiles_of("m", "c1")

    assert [p.payment_method_id for p in profiles] == ["pm_2", "pm_1"]
    assert await service.profiles_of("m", "c2") == []
