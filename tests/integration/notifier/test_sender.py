"""The sender's retry rules, over real PostgreSQL with a fake mail transport."""

import asyncio
from datetime import timedelta

import pytest

from services.notifier import app, service
from services.notifier.domain import RetryPolicy
from services.notifier.sender import Sender
from tests.integration.notifier.helpers import choice_recorded, settings_changed, unique
from tests.support import migrated_pool
from tests.unit.notifier.fakes import FakeMailer


@pytest.fixture
async def pool(database_url):
    async with migrated_pool(database_url, app.SCHEMA, app.MIGRATIONS) as pool:
        yield pool


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


async def test_each_new_failure_doubles_the_wait_and_the_last_allowed_one_gives_up(pool):
    mailer = FakeMailer()
    mailer.unavailable = {"down@a.example"}
    policy = RetryPolicy(first=timedelta(seconds=10), max_attempts=3)
    sender = Sender(pool, mailer, mail_from="n@p.example", retry=policy)
    await queue_email_to(pool, "down@a.example")

    waits = []
    for _ in range(3):
        await make_due(pool)
        await sender.send_due()
        waits.append(
            await pool.fetchrow(
                "SELECT status, attempts, round(extract(epoch FROM next_attempt_at - now()))"
                " AS wait, last_error FROM notifier.emails"
            )
        )

    assert [(row["status"], row["attempts"]) for row in waits] == [
        ("pending", 1),
        ("pending", 2),
        ("failed", 3),
    ]
    assert [row["wait"] for row in waits[:2]] == [10, 20]
    assert waits[2]["last_error"] == "451 try again later"
    await make_due(pool)
    assert await sender.send_due() == 0


async def test_two_senders_sharing_the_queue_send_each_email_once(pool):
    merchant = unique("m")
    addresses = [f"a{n}@x.example" for n in range(10)]
    await service.project_settings(pool, [settings_changed(merchant, addresses)])
    await service.ChoiceRecorder(pool)([choice_recorded(merchant) for _ in range(30)])
    first, second = FakeMailer(), FakeMailer()
    senders = [Sender(pool, mailer, mail_from="n@p.example") for mailer in (first, second)]

    async def drain(sender):
        while await sender.send_due():
            pass

    await asyncio.gather(*(drain(sender) for sender in senders))

    ids = [email.message_id for email in first.sent + second.sent]
    assert len(ids) == len(set(ids)) == 300
    assert first.sent and second.sent
