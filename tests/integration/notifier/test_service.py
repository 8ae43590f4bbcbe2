"""Recording choices and sending their emails, over real PostgreSQL and a real SMTP server."""

from datetime import timedelta

import pytest

from services.common.contract import PaymentMethod
from services.notifier import app
from services.notifier.domain import RetryPolicy
from services.notifier.mailer import SmtpMailer, SmtpSettings
from tests.integration.notifier.helpers import (
    choice_recorded,
    project,
    recorder,
    sender,
    settings_changed,
    unique,
)
from tests.support import eventually, migrated_pool

FAST_RETRY = RetryPolicy(first=timedelta(milliseconds=50), longest=timedelta(milliseconds=50))
MAIL_FROM = "Portal AutoPay <no-reply@portal.example>"


@pytest.fixture
async def pool(database_url):
    async with migrated_pool(database_url, app.SCHEMA, *app.MIGRATIONS) as pool:
        yield pool


@pytest.fixture
async def mailer(smtp_server):
    mailer = SmtpMailer(SmtpSettings.from_url(smtp_server.url, timeout=5), connections=2)
    yield mailer
    await mailer.close()


@pytest.fixture
def smtp_sender(pool, mailer):
    return sender(pool, mailer, mail_from=MAIL_FROM, retry=FAST_RETRY)


async def send_all(sender) -> None:
    while await sender.send_due():
        pass


async def outcomes(pool, *events) -> list[str]:
    rows = await pool.fetch(
        "SELECT event_id, outcome FROM notifier.choices WHERE event_id = ANY($1::text[])",
        [event.id for event in events],
    )
    by_id = {row["event_id"]: row["outcome"] for row in rows}
    return [by_id.get(event.id) for event in events]


async def email_states(pool, event) -> dict[str, tuple[str, int]]:
    rows = await pool.fetch(
        "SELECT recipient, status, attempts FROM notifier.emails WHERE event_id = $1", event.id
    )
    return {row["recipient"]: (row["status"], row["attempts"]) for row in rows}


async def test_each_customer_choice_emails_every_address_in_the_merchants_language(
    pool, smtp_sender, smtp_server
):
    english, french = unique("m"), unique("m")
    await project(
        pool,
        settings_changed(english, ["a@en.example", "b@en.example"]),
        settings_changed(french, ["compta@fr.example"], locale="fr"),
    )
    enrolled = choice_recorded(english, auto_process=True)
    declined = choice_recorded(
        french,
        auto_process=False,
        box_default_checked=True,
        payment_method=PaymentMethod(id="pm_2", type="bank_account", last4="6789"),
    )
    await recorder(pool)([enrolled, declined])
    await send_all(smtp_sender)

    received = {(m["To"], m["Subject"]): m for m in smtp_server.received()}
    english_subject = "AutoPay on: Ada Lovelace will pay automatically with Visa •••• 4242"
    french_subject = (
        "AutoPay refusé : Ada Lovelace ne paiera pas automatiquement avec compte bancaire •••• 6789"
    )
    assert sorted(received) == [
        ("a@en.example", english_subject),
        ("b@en.example", english_subject),
        ("compta@fr.example", french_subject),
    ]
    french_email = received[("compta@fr.example", french_subject)]
    assert french_email["From"] == MAIL_FROM
    assert french_email["X-Envelope-To"] == "compta@fr.example"
    assert [p.get_content_type() for p in french_email.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    text = french_email.get_body(("plain",)).get_content()
    assert "qui était cochée par défaut" in text
    assert f"Référence : {declined.id}" in text
    assert await outcomes(pool, enrolled, declined) == ["enrolled", "declined"]
    ids = {m["Message-ID"] for m in smtp_server.received()}
    assert len(ids) == 3


async def test_a_later_change_by_the_customer_is_emailed_and_a_removal_is_only_recorded(
    pool, smtp_sender, smtp_server
):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["a@x.example"]))
    turned_off = choice_recorded(merchant, auto_process=False, trigger="customer_changed")
    removed = choice_recorded(merchant, auto_process=False, trigger="payment_method_removed")
    await recorder(pool)([turned_off, removed])
    await send_all(smtp_sender)

    assert [m["Subject"] for m in smtp_server.received()] == [
        "AutoPay turned off: Ada Lovelace will no longer pay automatically with Visa •••• 4242"
    ]
    assert await outcomes(pool, turned_off, removed) == ["turned_off", "removed"]


async def test_an_older_settings_version_never_replaces_a_newer_one(pool):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["v2@x.example"], version=2))
    await project(pool, settings_changed(merchant, ["v1@x.example"], version=1))

    emails = await pool.fetchval(
        "SELECT emails FROM notifier.recipients WHERE merchant_id = $1", merchant
    )
    assert emails == ["v2@x.example"]


async def test_a_temporary_smtp_failure_is_retried_and_the_email_arrives_once(
    pool, smtp_sender, smtp_server
):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["a@x.example"]))
    event = choice_recorded(merchant)
    await recorder(pool)([event])
    smtp_server.temporary_failures = 1

    await smtp_sender.send_due()
    assert await email_states(pool, event) == {"a@x.example": ("pending", 1)}

    async def delivered():
        await smtp_sender.send_due()
        return smtp_server.received()

    assert len(await eventually(delivered, timeout=5)) == 1
    assert await email_states(pool, event) == {"a@x.example": ("sent", 2)}


async def test_a_permanent_refusal_is_recorded_not_retried_and_other_addresses_still_get_it(
    pool, smtp_sender, smtp_server
):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["gone@x.example", "ok@x.example"]))
    smtp_server.refused_recipients = {"gone@x.example"}
    event = choice_recorded(merchant)
    await recorder(pool)([event])
    await send_all(smtp_sender)
    # Whatever is still pending is made due now: a refused email must not be among it.
    await pool.execute("UPDATE notifier.emails SET next_attempt_at = now()")
    await send_all(smtp_sender)

    assert [m["To"] for m in smtp_server.received()] == ["ok@x.example"]
    assert await email_states(pool, event) == {
        "gone@x.example": ("failed", 1),
        "ok@x.example": ("sent", 1),
    }


async def test_a_mail_server_that_cannot_be_reached_leaves_the_email_pending_for_later(pool):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["a@x.example"]))
    event = choice_recorded(merchant)
    await recorder(pool)([event])
    unreachable = SmtpMailer(SmtpSettings.from_url("smtp://127.0.0.1:9", timeout=1))
    await sender(pool, unreachable, mail_from=MAIL_FROM).send_due()

    assert await email_states(pool, event) == {"a@x.example": ("pending", 1)}
    due_in = await pool.fetchval(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM notifier.emails"
        " WHERE event_id = $1",
        event.id,
    )
    assert 0 < due_in <= 1


async def test_a_name_with_a_line_break_and_bcc_stays_in_the_subject_and_adds_no_recipient(
    pool, smtp_sender, smtp_server
):
    merchant = unique("m")
    await project(pool, settings_changed(merchant, ["a@x.example"]))
    name = "Eve <b>bold</b>\r\nBcc: thief@evil.example"
    choice = choice_recorded(merchant)
    # The contract refuses such a name; this is the notifier's own defence, tested without it.
    choice.data = choice.data.model_copy(update={"customer_name": name})
    await recorder(pool)([choice])
    await send_all(smtp_sender)

    [message] = smtp_server.received()
    assert message["X-Envelope-To"] == "a@x.example"
    assert message["Bcc"] is None
    assert "Eve <b>bold</b> Bcc: thief@evil.example" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert "Eve &lt;b&gt;bold&lt;/b&gt; Bcc: thief@evil.example" in html
    assert "<b>bold</b>" not in html
