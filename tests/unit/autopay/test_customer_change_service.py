"""The customer-changes use-cases over a stateful fake: outcomes are rows, events, parked
requests."""

from datetime import UTC, datetime, timedelta

import pytest

from services.autopay.customer_changes import CustomerChanges
from services.common.contract import (
    DEFAULT_PORTAL_SETTINGS,
    AutopayChangeRejected,
    AutopayChangeRequested,
    AutopayChoiceRecorded,
    PaymentMethodRemoved,
)
from services.common.envelope import CloudEvent
from tests.unit.autopay.fakes_changes import FakeChangesStore

T = datetime(2026, 12, 4, 12, tzinfo=UTC)
PM = ("m", "c", "pm_1")
ALLOWED = DEFAULT_PORTAL_SETTINGS.model_copy(update={"allow_customer_autopay_changes": True})


def request(auto_process: bool, *, at=T, id_=None, version=None, pm="pm_1") -> CloudEvent:
    data = AutopayChangeRequested(
        merchant_id="m",
        customer_id="c",
        payment_method_id=pm,
        auto_process=auto_process,
        portal_settings_version=version,
        requested_by="ada@example.com",
    )
    return _event(data, id_ or f"req-{auto_process}-{at.isoformat()}-{pm}", at)


def removal(*, at=T, id_="rm-1") -> CloudEvent:
    data = PaymentMethodRemoved(
        merchant_id="m", customer_id="c", payment_method_id="pm_1", channel="customer_portal"
    )
    return _event(data, id_, at)


def _event(data, id_, at) -> CloudEvent:
    return CloudEvent(
        id=id_, type=type(data).__name__, source="/t", subject=None, time=at, data=data
    )


@pytest.fixture
def store() -> FakeChangesStore:
    fake = FakeChangesStore()
    fake.settings["m"] = {1: ALLOWED, 2: DEFAULT_PORTAL_SETTINGS}
    return fake


@pytest.fixture
def published() -> list:
    return []


@pytest.fixture
def changes(store, published) -> CustomerChanges:
    async def publish(records):
        published.extend(records)

    return CustomerChanges(store, publish, wait=5.0, clock=lambda: store.now)


async def test_an_allowed_change_sets_the_profile_and_publishes_one_customer_choice(
    store, changes, published
):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_requests([request(False, version=1)])
    assert store.profiles[PM].state.auto_process is False
    [choice] = store.sent(AutopayChoiceRecorded)
    assert (choice.auto_process, choice.decided_by, choice.trigger) == (
        False,
        "customer",
        "customer_changed",
    )
    assert (choice.customer_name, choice.payment_method.last4) == ("Ada Lovelace", "4242")
    assert published == store.outbox


async def test_off_then_on_gives_two_choices_and_two_history_rows(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_requests([request(False, version=1)])
    await changes.record_requests([request(True, version=1, at=T + timedelta(seconds=1))])
    assert [c.auto_process for c in store.sent(AutopayChoiceRecorded)] == [False, True]
    assert [h.trigger for h in store.history_of] == ["customer_changed", "customer_changed"]


async def test_a_change_the_named_version_forbids_is_rejected_and_the_profile_kept(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_requests([request(False, version=2)])
    assert store.profiles[PM].state.auto_process is True
    assert [r.reason for r in store.sent(AutopayChangeRejected)] == ["customer_changes_not_allowed"]
    assert store.sent(AutopayChoiceRecorded) == []


async def test_without_a_named_version_the_latest_decides(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_requests([request(False)])
    assert store.sent(AutopayChoiceRecorded) == []
    assert len(store.sent(AutopayChangeRejected)) == 1


async def test_a_request_for_the_stored_value_changes_nothing(store, changes, published):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_requests([request(True, version=1)])
    assert (store.outbox, store.history_of, published) == ([], [], [])


async def test_a_replayed_request_changes_nothing(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    event = request(False, version=1)
    await changes.record_requests([event])
    duplicates = await changes.record_requests([event, event])
    assert duplicates == 2
    assert len(store.outbox) == 1


async def test_a_late_request_changes_nothing(store, changes):
    store.add_profile(PM, True, T)
    await changes.record_requests([request(False, version=1, at=T - timedelta(seconds=1))])
    assert (store.outbox, store.history_of) == ([], [])


async def test_a_request_before_its_payment_method_waits_then_is_applied(store, changes):
    await changes.record_requests([request(True, version=1)])
    assert (len(store.parked), store.outbox) == (1, [])
    assert await changes.release_parked() is False
    store.add_profile(PM, False, T - timedelta(seconds=1))
    assert await changes.release_parked() is True
    assert [c.auto_process for c in store.sent(AutopayChoiceRecorded)] == [True]
    assert store.parked == []


async def test_a_request_whose_payment_method_never_comes_is_rejected_past_the_bound(
    store, changes
):
    await changes.record_requests([request(True, version=1)])
    store.now += timedelta(seconds=6)
    assert await changes.release_parked() is True
    assert [r.reason for r in store.sent(AutopayChangeRejected)] == ["unknown_payment_method"]


async def test_a_customers_later_request_waits_behind_the_one_waiting(store, changes):
    store.add_profile(("m", "c", "pm_2"), False, T - timedelta(minutes=1))
    await changes.record_requests([request(True, version=1), request(True, version=1, pm="pm_2")])
    assert [p.event.data.payment_method_id for p in store.parked] == ["pm_1", "pm_2"]
    assert store.outbox == []


async def test_without_a_wait_an_unknown_payment_method_is_rejected_at_once(store, published):
    async def publish(records):
        published.extend(records)

    changes = CustomerChanges(store, publish, wait=0, clock=lambda: store.now)
    await changes.record_requests([request(True, version=1)])
    assert [r.reason for r in store.sent(AutopayChangeRejected)] == ["unknown_payment_method"]


async def test_removing_an_auto_processed_method_turns_it_off_with_one_choice(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_removals([removal()])
    assert (store.profiles[PM].state.removed, store.profiles[PM].state.auto_process) == (
        True,
        False,
    )
    [choice] = store.sent(AutopayChoiceRecorded)
    assert (choice.auto_process, choice.trigger) == (False, "payment_method_removed")


async def test_removing_a_method_without_autopay_publishes_nothing(store, changes):
    store.add_profile(PM, False, T - timedelta(minutes=1))
    await changes.record_removals([removal()])
    assert store.profiles[PM].state.removed is True
    assert store.outbox == []


async def test_a_request_for_a_removed_method_is_rejected(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_removals([removal()])
    await changes.record_requests([request(True, version=1, at=T + timedelta(seconds=1))])
    assert [r.reason for r in store.sent(AutopayChangeRejected)] == ["payment_method_removed"]


async def test_a_removal_before_the_method_was_seen_keeps_a_removed_profile(store, changes):
    await changes.record_removals([removal()])
    assert store.profiles[PM].state.removed is True
    assert store.outbox == []


async def test_a_replayed_or_late_removal_changes_nothing(store, changes):
    store.add_profile(PM, True, T)
    await changes.record_removals([removal(at=T - timedelta(seconds=1), id_="rm-late")])
    assert store.profiles[PM].state.removed is False
    await changes.record_removals([removal(at=T + timedelta(seconds=1))])
    await changes.record_removals([removal(at=T + timedelta(seconds=1))])
    assert len(store.history_of) == 1


async def test_the_history_lists_a_profiles_changes_newest_first(store, changes):
    store.add_profile(PM, True, T - timedelta(minutes=1))
    await changes.record_requests([request(False, version=1)])
    await changes.record_requests([request(True, version=1, at=T + timedelta(seconds=1))])
    page = await changes.history(PM, limit=1)
    assert [c.auto_process for c in page] == [True]
