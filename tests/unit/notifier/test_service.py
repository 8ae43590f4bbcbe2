"""The recipients projection and the operators' given-up emails, over an in-memory store."""

from datetime import timedelta

from services.notifier.service import (
    Recipients,
    failed_emails,
    project_settings,
    retry_failed,
)
from tests.integration.notifier.helpers import settings_changed
from tests.unit.notifier.fake_mailer import FakeMailer
from tests.unit.notifier.fakes import FakeStore
from tests.unit.notifier.sending import SENDER, delivery, queue


async def test_the_projection_keeps_each_merchants_latest_version_whatever_the_order(store):
    await project_settings(
        store,
        [
            settings_changed("m1", ["v2@x.example"], version=2),
            settings_changed("m1", ["v3@x.example"], locale="fr", version=3),
            settings_changed("m2", ["m2@x.example"]),
        ],
    )
    await project_settings(store, [settings_changed("m1", ["v1@x.example"], version=1)])

    assert store.state.recipient_rows == {
        "m1": Recipients(3, ["v3@x.example"], "fr"),
        "m2": Recipients(1, ["m2@x.example"], "en"),
    }


async def give_up_on(store: FakeStore, merchant: str, *addresses: str) -> str:
    """Queue a choice's emails, all refused for good; return its event id."""
    event_id = await queue(store, merchant, *addresses)
    mailer = FakeMailer()
    mailer.refused = set(addresses)
    await delivery(store, mailer).send_batch(SENDER)
    return event_id


async def test_given_up_emails_are_listed_with_the_servers_last_answer(store):
    event_id = await give_up_on(store, "m1", "gone@x.example")

    [failed] = await failed_emails(store)

    assert (failed.event_id, failed.recipient, failed.attempts) == (event_id, "gone@x.example", 1)
    assert failed.last_error == "550 mailbox unavailable"


async def test_a_retry_queues_the_chosen_given_up_emails_again_from_a_new_start(store):
    chosen = await give_up_on(store, "m1", "a@x.example", "b@x.example")
    other = await give_up_on(store, "m2", "c@x.example")
    store.clock.advance(timedelta(days=4))

    assert await retry_failed(store, [chosen]) == 2

    again = store.emails_of(chosen).values()
    assert {(e.status, e.attempts, e.queued_at) for e in again} == {("pending", 0, store.clock())}
    assert [e.status for e in store.emails_of(other).values()] == ["failed"]
    assert await retry_failed(store, None) == 1
    assert await retry_failed(store, None) == 0
