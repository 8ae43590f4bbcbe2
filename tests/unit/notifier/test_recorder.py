"""Choices become queued emails, over an in-memory store: who gets one, once, and when."""

from datetime import timedelta

import pytest

from services.notifier.recorder import ChoiceRecorder
from services.notifier.service import project_settings
from tests.integration.notifier.helpers import choice_recorded, settings_changed
from tests.unit.notifier.fakes import FakeStore


@pytest.fixture
def recorder(store) -> ChoiceRecorder:
    return ChoiceRecorder(store, settings_wait=10.0, clock=store.clock)


def queued(store: FakeStore) -> list[tuple[str, str, str, str]]:
    """(event id, recipient, template, locale) of every queued email."""
    return sorted(
        (e.row.event_id, e.row.recipient, e.row.template, e.row.locale)
        for e in store.state.email_rows.values()
    )


def outcomes(store: FakeStore) -> dict[str, tuple[str, int]]:
    """(outcome, recipients_version) by event id, of the choices recorded."""
    return {i: (c.outcome, c.recipients_version) for i, c in store.state.choice_rows.items()}


async def test_a_customer_choice_queues_one_email_per_address_in_the_merchants_language(
    store, recorder
):
    await project_settings(
        store,
        [
            settings_changed("en", ["a@en.example", "b@en.example", "a@en.example"]),
            settings_changed("fr", ["compta@fr.example"], locale="fr"),
        ],
    )
    enrolled = choice_recorded("en", auto_process=True)
    declined = choice_recorded("fr", auto_process=False)

    await recorder([enrolled, declined])

    assert queued(store) == sorted(
        [
            (enrolled.id, "a@en.example", "enrolled", "en"),
            (enrolled.id, "b@en.example", "enrolled", "en"),
            (declined.id, "compta@fr.example", "declined", "fr"),
        ]
    )
    assert outcomes(store) == {enrolled.id: ("enrolled", 1), declined.id: ("declined", 1)}
    assert store.notifications == 1, "the senders are woken once, by the transaction's NOTIFY"


async def test_an_emails_facts_name_the_merchant_and_the_event_for_the_log_and_the_reader(
    store, recorder
):
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    choice = choice_recorded("m1")
    await recorder([choice])

    [email] = store.state.email_rows.values()
    assert email.row.facts["merchant_id"] == "m1"
    assert email.row.facts["reference"] == choice.id
    assert email.row.facts["payment_method"] == "Visa •••• 4242"


async def test_policy_decisions_and_merchants_without_an_address_are_recorded_without_email(
    store, recorder
):
    await project_settings(
        store, [settings_changed("with", ["a@x.example"]), settings_changed("without", [])]
    )
    policy = choice_recorded("with", decided_by="merchant_policy", box_default_checked=None)
    nobody = choice_recorded("without")
    never_configured = choice_recorded("unknown", settings_version=0)

    await recorder([policy, nobody, never_configured])

    assert outcomes(store) == {
        policy.id: ("merchant_policy", 1),
        nobody.id: ("no_recipient", 1),
        never_configured.id: ("no_recipient", 0),
    }
    assert queued(store) == []


async def test_the_same_event_twice_in_a_batch_or_delivered_again_queues_its_emails_once(
    store, recorder
):
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    event = choice_recorded("m1")

    await recorder([event, event])
    await project_settings(store, [settings_changed("m1", ["new@x.example"], version=2)])
    await recorder([event])

    assert queued(store) == [(event.id, "a@x.example", "enrolled", "en")]


async def test_a_batch_whose_transaction_fails_records_nothing_and_is_recorded_when_redelivered(
    store, recorder
):
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    event = choice_recorded("m1")
    store.failing_commits = 1

    with pytest.raises(ConnectionError):
        await recorder([event])
    assert outcomes(store) == {} and queued(store) == []

    await recorder([event])
    assert queued(store) == [(event.id, "a@x.example", "enrolled", "en")]


async def test_a_choice_waits_for_the_settings_version_that_added_an_address(store, recorder):
    await project_settings(store, [settings_changed("m1", [], version=1)])
    event = choice_recorded("m1", settings_version=2)

    await recorder([event])
    assert not await recorder.release_parked(), "decided before its version arrived"
    assert outcomes(store) == {}

    await project_settings(store, [settings_changed("m1", ["new@x.example"], version=2)])
    assert await recorder.release_parked()
    assert queued(store) == [(event.id, "new@x.example", "enrolled", "en")]
    assert outcomes(store) == {event.id: ("enrolled", 2)}
    assert store.state.parked.rows == []


async def test_past_the_bound_a_choice_is_decided_with_the_latest_recipients_known(store, recorder):
    await project_settings(store, [settings_changed("m1", ["old@x.example"])])
    event = choice_recorded("m1", settings_version=7)
    await recorder([event])
    assert await recorder.seconds_to_next_bound() == 10.0

    store.clock.advance(timedelta(seconds=9))
    assert not await recorder.release_parked()
    store.clock.advance(timedelta(seconds=1))
    assert await recorder.release_parked()

    assert queued(store) == [(event.id, "old@x.example", "enrolled", "en")]
    assert store.state.choice_rows[event.id].settings_version == 7
    assert outcomes(store) == {event.id: ("enrolled", 1)}


async def test_a_customers_later_choice_waits_behind_its_parked_one_and_others_do_not(
    store, recorder
):
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    first = choice_recorded("m1", settings_version=2)
    behind = choice_recorded("m1", customer_id=first.data.customer_id, decided_by="merchant_policy")
    other = choice_recorded("m1")

    await recorder([first, behind, other])
    assert outcomes(store) == {other.id: ("enrolled", 1)}

    await project_settings(store, [settings_changed("m1", ["b@x.example"], version=2)])
    assert await recorder.release_parked()
    assert outcomes(store) == {
        first.id: ("enrolled", 2),
        behind.id: ("merchant_policy", 2),
        other.id: ("enrolled", 1),
    }


async def test_with_no_wait_allowed_a_choice_is_decided_at_once_with_what_is_known(store):
    recorder = ChoiceRecorder(store, settings_wait=0)
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    event = choice_recorded("m1", settings_version=5)

    await recorder([event])

    assert outcomes(store) == {event.id: ("enrolled", 1)}
    assert store.state.parked.rows == []


async def test_a_choice_without_a_time_is_dated_by_the_clock(store, recorder):
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    event = choice_recorded("m1")
    event.time = None

    await recorder([event])

    [email] = store.state.email_rows.values()
    assert email.row.facts["occurred_at"] == store.clock().isoformat()


async def test_a_later_change_by_the_customer_queues_its_email_and_a_removal_none(store, recorder):
    await project_settings(store, [settings_changed("m1", ["a@x.example"])])
    turned_on = choice_recorded("m1", trigger="customer_changed")
    removed = choice_recorded("m1", auto_process=False, trigger="payment_method_removed")

    await recorder([turned_on, removed])

    assert queued(store) == [(turned_on.id, "a@x.example", "turned_on", "en")]
    assert outcomes(store) == {turned_on.id: ("turned_on", 1), removed.id: ("removed", 1)}
