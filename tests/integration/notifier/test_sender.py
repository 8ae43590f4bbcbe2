"""The sender's retry rules, over real PostgreSQL with a fake mail transport."""

import asyncio
from datetime import timedelta

import pytest

from services.notifier import app, email_queue, service
from services.notifier.domain import RetryPolicy
from services.notifier.sender import Sender
from tests.integration.notifier.helpers import choice_recorded, settings_changed, unique
from tests.support import migrated_pool
from tests.unit.notifier.fakes import FakeMailer


@pytest.fixture
async def pool(database_url):
    async with migrated_pool(database_url, app.SCHEMA, app.MIGRATIONS) as pool:
        yield pool


SECONDS_10 = timedelta(seconds=10)
WAIT = "SELECT round(extract(epoch FROM next_attempt_at - now())) FROM notifier.emails"


async def queue_email_to(pool, *addresses: str) -> None:
    merchant = unique("m")
    await service.project_settings(pool, [settings_changed(merchant, list(addresses))])
    await service.ChoiceRecorder(pool)([choice_recorded(merchant)])


async def make_due(pool) -> None:
    await pool.execute(
        "UPDATE notifier.emails SET next_attempt_at = now() WHERE status = 'pending'"
    )


async def test_an_address_that_keeps_failing_waits_alone_while_other_merchants_get_theirs(pool):
    mailer = FakeMailer()
    mailer.unavailable = {"down@a.example"}
    sender = Sender(pool, mailer, mail_from="n@p.example")
    await queue_email_to(pool, "down@a.example")
    await queue_email_to(pool, "up@b.example")

    await sender.send_due()
    await queue_email_to(pool, "later@c.example")
    await sender.send_due()

    assert mailer.sent_to() == ["up@b.example", "later@c.example"]
    assert mailer.attempts.count("down@a.example") == 1
    waits = await pool.fetchval(
        "SELECT next_attempt_at - now() FROM notifier.emails WHERE recipient = $1",
        "down@a.example",
    )
    assert timedelta(0) < waits <= timedelta(seconds=1)


async def test_each_new_failure_doubles_the_wait_up_to_fifteen_minutes(pool):
    mailer = FakeMailer()
    mailer.unavailable = {"down@a.example"}
    sender = Sender(pool, mailer, mail_from="n@p.example", retry=RetryPolicy(first=SECONDS_10))
    await queue_email_to(pool, "down@a.example")

    waits = []
    for _ in range(9):
        await make_due(pool)
        await sender.send_due()
        waits.append(await pool.fetchval(WAIT))

    assert waits == [10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert await pool.fetchval("SELECT status FROM notifier.emails") == "pending"


async def test_an_smtp_outage_of_hours_loses_no_email_it_is_retried_until_give_up_after(pool):
    mailer = FakeMailer()
    mailer.unavailable = {"down@a.example"}
    sender = Sender(pool, mailer, mail_from="n@p.example")
    await queue_email_to(pool, "down@a.example")
    # A weekend of failures: hundreds of attempts, every 15 minutes.
    await pool.execute("UPDATE notifier.emails SET attempts = 250")

    await sender.send_due()
    assert await pool.fetchval(WAIT) == 900
    assert await pool.fetchval("SELECT status FROM notifier.emails") == "pending"

    mailer.unavailable = set()
    await make_due(pool)
    await sender.send_due()
    assert mailer.sent_to() == ["down@a.example"]


async def test_an_email_still_failing_after_give_up_after_is_given_up(pool):
    mailer = FakeMailer()
    mailer.unavailable = {"down@a.example"}
    policy = RetryPolicy(give_up_after=timedelta(hours=1))
    sender = Sender(pool, mailer, mail_from="n@p.example", retry=policy)
    await queue_email_to(pool, "down@a.example")
    await pool.execute("UPDATE notifier.emails SET queued_at = now() - interval '59 minutes'")
    await sender.send_due()
    assert await pool.fetchval("SELECT status FROM notifier.emails") == "pending"

    await pool.execute("UPDATE notifier.emails SET queued_at = now() - interval '61 minutes'")
    await make_due(pool)
    await sender.send_due()

    row = await pool.fetchrow("SELECT status, last_error FROM notifier.emails")
    assert tuple(row) == ("failed", "451 try again later")
    await make_due(pool)
    assert await sender.send_due() == 0


async def test_two_senders_sharing_the_queue_send_each_email_once(pool):
    merchant = unique("m")
    addresses = [f"a{n}@x.example" for n in range(10)]
    await service.project_settings(pool, [settings_changed(merchant, addresses)])
    await service.ChoiceRecorder(pool)([choice_recorded(merchant) for _ in range(30)])
    first, second = FakeMailer(), FakeMailer()
    senders = [
        Sender(pool, mailer, mail_from="n@p.example", batch_size=20) for mailer in (first, second)
    ]

    async def drain(sender):
        while await sender.send_due():
            pass

    await asyncio.gather(*(drain(sender) for sender in senders))

    ids = [email.message_id for email in first.sent + second.sent]
    assert len(ids) == len(set(ids)) == 300
    assert first.sent and second.sent


async def test_a_claim_lasts_as_long_as_the_claiming_senders_session(pool):
    await queue_email_to(pool, "a@x.example")
    session = await pool.acquire()
    try:
        assert await email_queue.hold_sender_key(session, 42)
        [claimed] = await email_queue.claim_due(pool, 42, 10)
        assert await email_queue.claim_due(pool, 43, 10) == []
    finally:
        await pool.release(session)  # as when the sender's process dies: its lock goes

    [taken_over] = await email_queue.claim_due(pool, 43, 10)
    assert (taken_over.event_id, taken_over.recipient) == (claimed.event_id, "a@x.example")
