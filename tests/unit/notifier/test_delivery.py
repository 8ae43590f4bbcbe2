"""Sending queued emails, over an in-memory store and mailer: which is due, what each attempt
leaves behind (sent, retried at, given up), and how a stop ends."""

import asyncio
from datetime import timedelta

import pytest

from services.notifier.delivery import EmailDelivery
from services.notifier.domain import RetryPolicy, message_id
from services.notifier.mailer import TemporaryFailure
from services.notifier.recorder import ChoiceRecorder
from services.notifier.service import project_settings
from tests.integration.notifier.helpers import choice_recorded, settings_changed
from tests.support import eventually
from tests.unit.notifier.fakes import FakeMailer, FakeStore

SENDER = 7
TEN_SECONDS = RetryPolicy(first=timedelta(seconds=10))


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


def delivery(store: FakeStore, mailer: FakeMailer, **options) -> EmailDelivery:
    options.setdefault("mail_from", "Portal AutoPay <n@portal.example>")
    return EmailDelivery(store, mailer, clock=store.clock, **options)


async def queue(store: FakeStore, merchant: str, *addresses: str) -> str:
    """Queue the emails of one new choice to `addresses`; return its event id."""
    await project_settings(store, [settings_changed(merchant, list(addresses))])
    choice = choice_recorded(merchant)
    await ChoiceRecorder(store, clock=store.clock)([choice])
    return choice.id


def states(store: FakeStore, event_id: str) -> dict[str, tuple[str, int]]:
    return {r: (e.status, e.attempts) for r, e in store.emails_of(event_id).items()}


def wait_of(store: FakeStore, event_id: str, recipient: str) -> timedelta:
    return store.emails_of(event_id)[recipient].next_attempt_at - store.clock()


async def test_a_due_email_is_sent_once_with_a_message_id_from_its_event_and_recipient(
    store, mailer
):
    event_id = await queue(store, "m1", "Ops@X.example")
    sending = delivery(store, mailer)

    assert await sending.send_batch(SENDER) == 1
    assert await sending.send_batch(SENDER) == 0

    [email] = mailer.sent
    assert email.message_id == message_id(event_id, "ops@x.example", "portal.example")
    assert states(store, event_id) == {"Ops@X.example": ("sent", 1)}


async def test_an_address_that_keeps_failing_waits_alone_while_other_merchants_get_theirs(
    store, mailer
):
    mailer.unavailable = {"down@a.example"}
    down = await queue(store, "a", "down@a.example")
    await queue(store, "b", "up@b.example")
    sending = delivery(store, mailer)

    await sending.send_batch(SENDER)
    await queue(store, "c", "later@c.example")
    await sending.send_batch(SENDER)

    assert mailer.sent_to() == ["up@b.example", "later@c.example"]
    assert mailer.attempts.count("down@a.example") == 1
    assert states(store, down) == {"down@a.example": ("pending", 1)}
    assert wait_of(store, down, "down@a.example") == timedelta(seconds=1)


async def test_each_new_failure_doubles_the_wait_up_to_fifteen_minutes(store, mailer):
    mailer.unavailable = {"down@a.example"}
    event_id = await queue(store, "a", "down@a.example")
    sending = delivery(store, mailer, retry=TEN_SECONDS)

    waits = []
    for _ in range(9):
        await sending.send_batch(SENDER)
        waits.append(wait_of(store, event_id, "down@a.example").total_seconds())
        store.clock.advance(timedelta(seconds=waits[-1]))

    assert waits == [10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert states(store, event_id) == {"down@a.example": ("pending", 9)}


async def test_an_email_is_not_tried_again_before_its_retry_is_due(store, mailer):
    mailer.unavailable = {"down@a.example"}
    await queue(store, "a", "down@a.example")
    sending = delivery(store, mailer, retry=TEN_SECONDS)
    await sending.send_batch(SENDER)

    store.clock.advance(timedelta(seconds=9))
    assert await sending.send_batch(SENDER) == 0
    store.clock.advance(timedelta(seconds=1))
    assert await sending.send_batch(SENDER) == 1


async def test_an_outage_of_a_weekend_loses_no_email_and_it_goes_once_the_server_is_back(
    store, mailer
):
    mailer.unavailable = {"down@a.example"}
    event_id = await queue(store, "a", "down@a.example")
    sending = delivery(store, mailer)
    for _ in range(250):  # two days and a half of attempts, every 15 minutes at most
        await sending.send_batch(SENDER)
        store.clock.advance(timedelta(minutes=15))
    assert states(store, event_id) == {"down@a.example": ("pending", 250)}

    mailer.unavailable = set()
    await sending.send_batch(SENDER)
    assert mailer.sent_to() == ["down@a.example"]


async def test_an_email_still_failing_after_give_up_after_is_given_up_with_the_last_answer(
    store, mailer
):
    mailer.unavailable = {"down@a.example"}
    event_id = await queue(store, "a", "down@a.example")
    sending = delivery(store, mailer, retry=RetryPolicy(give_up_after=timedelta(hours=1)))
    store.clock.advance(timedelta(minutes=59))
    await sending.send_batch(SENDER)
    assert states(store, event_id) == {"down@a.example": ("pending", 1)}

    store.clock.advance(timedelta(minutes=2))
    await sending.send_batch(SENDER)

    [email] = store.emails_of(event_id).values()
    assert (email.status, email.last_error) == ("failed", "451 try again later")
    store.clock.advance(timedelta(days=1))
    assert await sending.send_batch(SENDER) == 0


async def test_a_permanent_refusal_is_given_up_at_once_and_the_other_addresses_get_theirs(
    store, mailer
):
    mailer.refused = {"gone@x.example"}
    event_id = await queue(store, "m1", "gone@x.example", "ok@x.example")
    sending = delivery(store, mailer)

    await sending.send_batch(SENDER)
    store.clock.advance(timedelta(days=1))
    assert await sending.send_batch(SENDER) == 0

    assert mailer.sent_to() == ["ok@x.example"]
    assert states(store, event_id) == {"gone@x.example": ("failed", 1), "ok@x.example": ("sent", 1)}
    assert store.emails_of(event_id)["gone@x.example"].last_error == "550 mailbox unavailable"


async def test_an_unexpected_error_while_sending_is_retried_like_a_temporary_failure(store, mailer):
    mailer.failures = [RuntimeError("template exploded")]
    event_id = await queue(store, "m1", "a@x.example")
    sending = delivery(store, mailer)

    await sending.send_batch(SENDER)
    assert states(store, event_id) == {"a@x.example": ("pending", 1)}
    assert "template exploded" in store.emails_of(event_id)["a@x.example"].last_error

    store.clock.advance(timedelta(seconds=1))
    await sending.send_batch(SENDER)
    assert states(store, event_id) == {"a@x.example": ("sent", 2)}


async def test_an_email_claimed_by_a_live_sender_is_skipped_and_taken_over_once_it_is_gone(
    store, mailer
):
    await queue(store, "m1", "a@x.example")
    async with store.statements() as work:
        await work.emails.claim_due(1, 10)
    store.live_senders = {1}
    sending = delivery(store, mailer)

    assert await sending.send_batch(SENDER) == 0
    store.live_senders = set()
    assert await sending.send_batch(SENDER) == 1
    assert mailer.sent_to() == ["a@x.example"]


async def test_no_more_than_in_flight_emails_are_sent_at_once(store, mailer):
    event_id = await queue(store, "m1", *(f"a{n}@x.example" for n in range(6)))
    sending = delivery(store, mailer, in_flight=2)
    mailer.gate.clear()

    batch = asyncio.create_task(sending.send_batch(SENDER))
    await eventually(lambda: mailer.in_flight == 2, timeout=2, interval=0)
    mailer.gate.set()
    await batch

    assert mailer.most_in_flight == 2
    assert set(states(store, event_id).values()) == {("sent", 1)}


async def test_attempts_that_end_while_one_is_being_recorded_are_recorded_in_one_write(
    store, mailer
):
    event_id = await queue(store, "m1", *(f"a{n}@x.example" for n in range(6)))
    sending = delivery(store, mailer, in_flight=6)
    mailer.gate.clear()

    batch = asyncio.create_task(sending.send_batch(SENDER))
    await eventually(lambda: mailer.in_flight == 6, timeout=2, interval=0)
    mailer.gate.set()
    await batch

    assert set(states(store, event_id).values()) == {("sent", 1)}
    assert store.recorded_writes == 2, "the first attempt's write, then the five others'"


async def test_a_stopped_delivery_starts_no_new_email_but_records_those_in_flight(store, mailer):
    event_id = await queue(store, "m1", "a@x.example", "b@x.example")
    sending = delivery(store, mailer, in_flight=1)
    mailer.gate.clear()

    batch = asyncio.create_task(sending.send_batch(SENDER))
    await eventually(lambda: mailer.in_flight == 1, timeout=2, interval=0)
    sending.stop()
    mailer.gate.set()
    await batch

    assert len(mailer.attempts) == 1
    assert sorted(states(store, event_id).values()) == [("pending", 0), ("sent", 1)]


async def test_a_temporary_failure_of_the_mailer_is_told_apart_from_a_refusal(store, mailer):
    mailer.failures = [TemporaryFailure("421 closing")]
    event_id = await queue(store, "m1", "a@x.example")

    await delivery(store, mailer).send_batch(SENDER)

    assert states(store, event_id) == {"a@x.example": ("pending", 1)}
