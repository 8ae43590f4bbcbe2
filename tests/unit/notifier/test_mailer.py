"""Mail transports that need no server: the SMTP_URL grammar and the `.eml` folder."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from services.common.embedded import free_port
from services.notifier.domain import Template
from services.notifier.mailer import (
    OutboxDirMailer,
    SmtpMailer,
    SmtpSettings,
    TemporaryFailure,
    make_mailer,
)
from services.notifier.mime import build
from services.notifier.preview import sample_facts
from services.notifier.rendering import Renderer


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example:2525", ("mail.example", 2525, False, None, None, None)),
        ("smtp://mail.example", ("mail.example", 25, False, None, None, None)),
        ("smtp://mail.example:587?starttls=true", ("mail.example", 587, False, True, None, None)),
        ("smtp://localhost:1025?starttls=false", ("localhost", 1025, False, False, None, None)),
        ("smtps://u%40x:p%3Aw@mail.example", ("mail.example", 465, True, None, "u@x", "p:w")),
    ],
)
def test_an_smtp_url_gives_host_port_tls_and_credentials(url, expected):
    settings = SmtpSettings.from_url(url, timeout=3)
    assert (
        settings.hostname,
        settings.port,
        settings.use_tls,
        settings.start_tls,
        settings.username,
        settings.password,
    ) == expected
    assert settings.timeout == 3


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_a_url_that_is_not_smtp_is_refused(url):
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpSettings.from_url(url, timeout=3)


def test_without_an_smtp_url_the_emails_go_to_the_outbox_folder(tmp_path):
    assert isinstance(make_mailer(None, timeout=1, outbox_dir=tmp_path), OutboxDirMailer)
    assert isinstance(make_mailer("smtp://h:25", timeout=1, outbox_dir=tmp_path), SmtpMailer)


async def test_the_outbox_folder_holds_one_eml_file_per_email_even_when_sent_twice(tmp_path):
    email = build(
        Renderer().render(Template.ENROLLED, "en", sample_facts(Template.ENROLLED, "en")),
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<abc123@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    mailer = OutboxDirMailer(tmp_path / "mail")
    await mailer.send(email)
    await mailer.send(email)
    files = list((tmp_path / "mail").iterdir())
    assert [path.name for path in files] == ["abc123.eml"]
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "billing@merchant.example"


async def test_after_a_failed_connection_the_next_emails_fail_at_once_instead_of_each_waiting():
    mailer = SmtpMailer(SmtpSettings.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=5))
    email = build(
        Renderer().render(Template.ENROLLED, "en", sample_facts(Template.ENROLLED, "en")),
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<abc123@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(TemporaryFailure, match="SMTPConnect"):
        await mailer.send(email)
    with pytest.raises(TemporaryFailure, match="could not be reached a moment ago"):
        await mailer.send(email)
    await mailer.close()
