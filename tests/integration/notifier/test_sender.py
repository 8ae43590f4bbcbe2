"""Senders sharing the email queue over real PostgreSQL: claims, and what frees them.

The rules of sending (retries, their schedule, giving up) are unit-tested with fakes:
tests/unit/notifier/test_delivery.py.
"""

import asyncio

import pytest

from services.notifier import app, email_queue
from services.notifier.repository import PostgresStore
from tests.integration.notifier.helpers import (
    choice_recorded,
    project,
    recorder,
    sender,
    settings_changed,
    unique,
)
from tests.support import migrated_pool
from tests.unit.notifier.fake_mailer import FakeMailer


@pytest.fixture
async def pool(database_url):
    async with migrated_pool(database_url, app.SCHEMA, *app.MIGRATIONS) as pool:
        yield pool


async def claim(pool, sender_key: int) -> list:
    async with PostgresStore(pool).statements() as work:
        return await work.emails.claim_due(sender_key, 10)


async def test_two_senders_sharing_the_queue_send_each_email_once(pool):
    merchant = unique("m")
    addresses = [f"a{n}@x.example" for n in range(10)]
    await project(pool, settings_changed(merchant, addresses))
    await recorder(pool)([choice_recorded(merchant) for _ in range(30)])
    first, second = FakeMailer(), FakeMailer()
    senders = [sender(pool, mailer, batch_size=20) for mailer in (first, second)]

    async def drain(one):
        while await one.send_due():
            pass

    await asyncio.gather(*(drain(one) for one in senders))

    ids = [email.message_id for email in first.sent + second.sent]
    assert len(ids) == len(set(ids)) == 300
    assert first.sent and second.sent


async def test_a_claim_lasts_as_long_as_the_claiming_senders_session(pool):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["a@x.example"]))
    await recorder(pool)([choice_recorded(merchant)])
    session = await pool.acquire()
    try:
        assert await email_queue.hold_sender_key(session, 42)
        [claimed] = await claim(pool, 42)
        assert await claim(pool, 43) == []
    finally:
        await pool.release(session)  # as when the sender's process dies: its lock goes

    [taken_over] = await claim(pool, 43)
    assert (taken_over.event_id, taken_over.recipient) == (claimed.event_id, "a@x.example")
