"""What a failed attempt leaves behind, over an in-memory store and mailer: a retry at a
growing interval until `give_up_after`, or a refusal given up at once."""

from datetime import timedelta

from services.notifier.domain import RetryPolicy
from services.notifier.mailer import TemporaryFailure
from tests.unit.notifier.sending import SENDER, delivery, queue, states, wait_of

TEN_SECONDS = RetryPolicy(first=timedelta(seconds=10))


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


async def test_a_temporary_failure_of_the_mailer_is_told_apart_from_a_refusal(store, mailer):
    mailer.failures = [TemporaryFailure("421 closing")]
    event_id = await queue(store, "m1", "a@x.example")

    await delivery(store, mailer).send_batch(SENDER)

    assert states(store, event_id) == {"a@x.example": ("pending", 1)}
