"""Mail transports behind one small interface: SMTP, or `.eml` files in a folder.

`send` either returns (the message was accepted), raises `TemporaryFailure` (try again
later: a 4xx answer, a dropped connection, a timeout) or raises `PermanentFailure` (a 5xx
refusal: retrying would get the same answer).
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from services.notifier.mime import OutgoingEmail


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    hostname: str
    port: int
    use_tls: bool
    # None: STARTTLS when the server offers it; True: required; False: never.
    start_tls: bool | None
    username: str | None
    password: str | None
    timeout: float
    # The CA that signed the server's certificate, when not one of the system's.
    ca_file: str | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout: float, ca_file: str | None = None) -> "SmtpSettings":
        """`smtp://[user:password@]host[:port][?starttls=true|false]` or `smtps://…`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        secure = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", [""])[0].lower()
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if secure else 25),
            use_tls=secure,
            start_tls=None if secure or not starttls else starttls in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
            ca_file=ca_file,
        )


class SmtpMailer:
    """Keeps up to `connections` SMTP sessions open and reuses them across emails.

    A session that failed in any way is closed rather than reused: its state is unknown.
    Only what the server says about one email is permanent: a 5xx for its recipient or its
    content. A server that cannot be reached, or refuses our login or our sender address,
    is a problem of the moment or of configuration: temporary, so the email waits for it.
    """

    def __init__(self, settings: SmtpSettings, *, connections: int = 4) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)
        self._connections = connections
        # After a failed connection, the emails queued behind it fail at once instead of each
        # waiting for its own connect timeout: a batch never stalls on an unreachable server.
        self._unreachable_until = 0.0

    async def send(self, email: OutgoingEmail) -> None:
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = await self._connect()
            await client.sendmail(email.envelope_from, [email.recipient], email.data)
        except aiosmtplib.SMTPRecipientsRefused as error:
            client = await self._discard(client)
            raise _classify(min(r.code for r in error.recipients), error) from error
        except aiosmtplib.SMTPDataError as error:
            client = await self._discard(client)
            raise _classify(error.code, error) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            client = await self._discard(client)
            raise TemporaryFailure(repr(error)) from error
        finally:
            self._idle.put_nowait(client)

    async def close(self) -> None:
        for _ in range(self._connections):
            await self._discard(await self._idle.get())

    async def _connect(self) -> aiosmtplib.SMTP:
        if time.monotonic() < self._unreachable_until:
            raise TemporaryFailure("the SMTP server could not be reached a moment ago")
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.hostname,
            port=settings.port,
            use_tls=settings.use_tls,
            start_tls=settings.start_tls,
            username=settings.username,
            password=settings.password,
            timeout=settings.timeout,
            cert_bundle=settings.ca_file,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._unreachable_until = time.monotonic() + 1.0
            raise
        return client

    @staticmethod
    async def _discard(client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
        return None


def _classify(code: int, error: Exception) -> Exception:
    if 500 <= code < 600:
        return PermanentFailure(f"{code} {error}")
    return TemporaryFailure(f"{code} {error}")


class OutboxDirMailer:
    """Writes each email as `<folder>/<Message-ID digest>.eml`: the embedded default.

    Named after the Message-ID, so sending the same email again rewrites the same file.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, email: OutgoingEmail) -> None:
        name = email.message_id.strip("<>").split("@")[0]
        try:
            await asyncio.to_thread(self._write, self._folder / f"{name}.eml", email.data)
        except OSError as error:
            raise TemporaryFailure(repr(error)) from error

    async def close(self) -> None:
        return None

    def _write(self, path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(content)
        partial.replace(path)


def make_mailer(
    smtp_url: str | None, *, timeout: float, outbox_dir: Path, ca_file: Path | None = None
) -> Mailer:
    if smtp_url:
        ca = str(ca_file) if ca_file else None
        return SmtpMailer(SmtpSettings.from_url(smtp_url, timeout=timeout, ca_file=ca))
    return OutboxDirMailer(outbox_dir)
