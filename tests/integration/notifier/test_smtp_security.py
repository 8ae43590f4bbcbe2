"""SMTP over STARTTLS and implicit TLS with a login, against aiosmtpd with a test CA.

A wrong CA or password leaves the email waiting (pending, retried later) and says why.
"""

import contextlib
import json
import logging
import ssl
from collections.abc import Iterator

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from prometheus_client import REGISTRY

from services.common.embedded import free_port
from services.notifier import app
from services.notifier.mailer import SmtpMailer, SmtpSettings
from tests.integration.notifier.helpers import (
    choice_recorded,
    project,
    recorder,
    sender,
    settings_changed,
    unique,
)
from tests.smtp import SmtpServer, _Handler
from tests.support import migrated_pool

USER, PASSWORD = "mailer", "smtp-Secret-42"
CA = trustme.CA()


@pytest.fixture
async def pool(database_url):
    async with migrated_pool(database_url, app.SCHEMA, *app.MIGRATIONS) as pool:
        yield pool


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smtp-ca")
    CA.cert_pem.write_to_path(folder / "ca.pem")
    trustme.CA().cert_pem.write_to_path(folder / "other-ca.pem")
    return folder / "ca.pem", folder / "other-ca.pem"


def _login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    right = (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
    # handled=False: aiosmtpd answers a failure itself (535).
    return AuthResult(success=right, handled=False)


@contextlib.contextmanager
def tls_server(implicit: bool) -> Iterator[SmtpServer]:
    """STARTTLS required, or TLS from the first byte (smtps); login required either way."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert("127.0.0.1").configure_cert(context)
    server = SmtpServer(host="127.0.0.1", port=free_port())
    tls = (
        {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        _Handler(server),
        hostname=server.host,
        port=server.port,
        authenticator=_login,
        auth_required=True,
        auth_require_tls=not implicit,
        **tls,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def retrying() -> float:
    return REGISTRY.get_sample_value("portal_autopay_emails_total", {"outcome": "retrying"}) or 0


async def send_one(pool, url: str, ca_file) -> str:
    """Queue an email, send what is due once; return the merchant's address."""
    address = f"{unique('ops')}@merchant.example"
    merchant = unique("m")
    await project(pool, settings_changed(merchant, [address]))
    await recorder(pool)([choice_recorded(merchant)])
    mailer = SmtpMailer(SmtpSettings.from_url(url, timeout=5, ca_file=str(ca_file)))
    try:
        await sender(pool, mailer, mail_from="n@portal.example").send_due()
    finally:
        await mailer.close()
    return address


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_an_email_goes_over_tls_with_a_login(pool, ca_files, implicit):
    ca, _ = ca_files
    with tls_server(implicit) as server:
        scheme = "smtps" if implicit else "smtp"
        query = "" if implicit else "?starttls=true"
        url = f"{scheme}://{USER}:{PASSWORD}@{server.host}:{server.port}{query}"
        address = await send_one(pool, url, ca)
        [received] = server.received()
    assert received["X-Envelope-To"] == address
    status = await pool.fetchval("SELECT status FROM notifier.emails WHERE recipient = $1", address)
    assert status == "sent"


@pytest.mark.parametrize(
    ("wrong", "why"),
    [("ca", "CERTIFICATE_VERIFY_FAILED"), ("password", "535")],
)
async def test_a_wrong_ca_or_password_leaves_the_email_waiting_and_says_why(
    pool, ca_files, caplog, wrong, why
):
    ca, other_ca = ca_files
    password = "not-the-password" if wrong == "password" else PASSWORD
    retrying_before = retrying()
    with tls_server(implicit=False) as server, caplog.at_level(logging.INFO):
        url = f"smtp://{USER}:{password}@{server.host}:{server.port}?starttls=true"
        address = await send_one(pool, url, other_ca if wrong == "ca" else ca)
        assert server.received() == []
    assert retrying() == retrying_before + 1
    row = await pool.fetchrow(
        "SELECT status, attempts, last_error FROM notifier.emails WHERE recipient = $1", address
    )
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert why in row["last_error"]
    [line] = [r for r in caplog.records if r.name == "services.notifier.emails"]
    fields = line.fields
    assert fields["outcome"] == "retrying" and why in fields["error"]
    assert address not in json.dumps(fields) and "not-the-password" not in json.dumps(fields)
