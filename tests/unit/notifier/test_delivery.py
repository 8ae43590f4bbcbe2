"""Sending queued emails, over an in-memory store and mailer: which email is due, its
Message-ID, the claims of other senders, how many go at once, and how a stop ends."""

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import timedelta

from services.notifier.domain import message_id
from tests.support import eventually
from tests.unit.notifier.fake_mailer import FakeMailer
from tests.unit.notifier.sending import SENDER, delivery, queue, states, wait_of


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
    async with held_at_the_server(mailer, sending.send_batch(SENDER), in_flight=2):
        pass

    assert mailer.most_in_flight == 2
    assert set(states(store, event_id).values()) == {("sent", 1)}


async def test_attempts_that_end_while_one_is_being_recorded_are_recorded_in_one_write(
    store, mailer
):
    event_id = await queue(store, "m1", *(f"a{n}@x.example" for n in range(6)))
    sending = delivery(store, mailer, in_flight=6)
    async with held_at_the_server(mailer, sending.send_batch(SENDER), in_flight=6):
        pass

    assert set(states(store, event_id).values()) == {("sent", 1)}
    assert store.recorded_writes == 2, "the first attempt's write, then the five others'"


async def test_a_stopped_delivery_starts_no_new_email_but_records_those_in_flight(store, mailer):
    event_id = await queue(store, "m1", "a@x.example", "b@x.example")
    sending = delivery(store, mailer, in_flight=1)
    async with held_at_the_server(mailer, sending.send_batch(SENDER), in_flight=1):
        sending.stop()

    assert len(mailer.attempts) == 1
    assert sorted(states(store, event_id).values()) == [("pending", 0), ("sent", 1)]


@contextlib.asynccontextmanager
async def held_at_the_server(mailer: FakeMailer, batch: Coroutine, *, in_flight: int):
    """Run `batch` with every send held at the server; the body runs once `in_flight` sends
    are waiting there, and the sends are answered as it ends."""
    mailer.gate.clear()
    task = asyncio.create_task(batch)
    await eventually(lambda: mailer.in_flight == in_flight, timeout=2, interval=0)
    yield
    mailer.gate.set()
    await task
