"""The operator's commands for given-up emails: `emails failed` and `emails retry`."""

from services.common.config import Config
from services.notifier import app
from services.notifier.domain import message_id
from services.notifier.mailer import SmtpMailer, SmtpSettings
from tests.e2e.test_command_line import portal_autopay
from tests.integration.notifier.helpers import (
    choice_recorded,
    project,
    recorder,
    sender,
    settings_changed,
    unique,
)
from tests.support import migrated_pool, service_environment

MAIL_FROM = "Portal AutoPay <no-reply@portal-autopay.example>"


async def test_a_refused_email_is_listed_and_once_retried_is_sent_once_with_its_message_id(
    config: Config, smtp_server
):
    env = service_environment(config)
    smtp_server.refused_recipients = {"gone@x.example"}
    merchant = unique("m")
    event = choice_recorded(merchant)
    mailer = SmtpMailer(SmtpSettings.from_url(smtp_server.url, timeout=5))
    async with migrated_pool(config.database_url, app.SCHEMA, *app.MIGRATIONS) as pool:
        await project(pool, settings_changed(merchant, ["gone@x.example", "ok@x.example"]))
        await recorder(pool)([event])
        smtp_sender = sender(pool, mailer, mail_from=MAIL_FROM)
        await smtp_sender.send_due()

        listed = portal_autopay("emails", "failed", env=env)
        assert listed.returncode == 0, listed.stderr
        [line] = listed.stdout.splitlines()[1:]
        assert line.startswith(f"{event.id}\tgone@x.example\t1\t")
        assert "550" in line

        smtp_server.refused_recipients = set()
        retried = portal_autopay("emails", "retry", "--id", event.id, env=env)
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.strip() == "queued again: 1"
        assert portal_autopay("emails", "retry", "--all", env=env).stdout.strip() == (
            "queued again: 0"
        )
        await smtp_sender.send_due()
        await smtp_sender.send_due()
        await mailer.close()

    to_gone = [m for m in smtp_server.received() if m["To"] == "gone@x.example"]
    assert [m["Message-ID"] for m in to_gone] == [
        message_id(event.id, "gone@x.example", "portal-autopay.example")
    ]
    assert portal_autopay("emails", "failed", env=env).stdout.splitlines()[1:] == []
