"""The email sender: takes the queued emails from `notifier.emails` to the mail server.

Each email is claimed, sent and marked in its own short transaction, so an email the server
has accepted is recorded as sent at once, and the row lock of the claim belongs to the
connection: if the process dies mid-send, PostgreSQL releases the email for the next sender
(which sends it again, with the same Message-ID). Several senders (instances) share the
queue: `FOR UPDATE SKIP LOCKED` gives each email to one of them.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr

import asyncpg

from services.common.db import TRANSIENT_DB_ERRORS
from services.notifier import repository
from services.notifier.domain import EmailFacts, RetryPolicy, Template, message_id
from services.notifier.mailer import Mailer, PermanentFailure, TemporaryFailure
from services.notifier.mime import build
from services.notifier.rendering import Renderer
from services.notifier.repository import EmailRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendError:
    permanent: bool
    message: str


class Sender:
    """`workers` emails in flight at once (one per SMTP connection the mailer keeps)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        mailer: Mailer,
        *,
        mail_from: str,
        renderer: Renderer | None = None,
        retry: RetryPolicy | None = None,
        workers: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._mailer = mailer
        self._mail_from = mail_from
        self._domain = parseaddr(mail_from)[1].rpartition("@")[2] or "portal-autopay.localhost"
        self._renderer = renderer or Renderer()
        self._retry = retry or RetryPolicy()
        self._workers = workers
        self._poll_interval = poll_interval
        # Set by the next NOTIFY, then replaced: a worker that found nothing waits on the
        # event it held before looking, so a NOTIFY in between is never missed.
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()

    async def send_one(self) -> bool:
        """Claim, send and mark one due email; False when none is due."""
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await repository.claim_due(connection, 1)
            if not rows:
                return False
            [row] = rows
            error = await self._send(row)
            if error is None:
                await repository.mark_sent(connection, row.event_id, row.recipient)
            else:
                retry_at = self._retry_at(row, error, datetime.now(UTC))
                await repository.mark_failed(
                    connection, row.event_id, row.recipient, error.message, retry_at
                )
        return True

    async def send_due(self) -> int:
        """Send every email due now, `workers` at a time; return how many were attempted."""

        async def drain() -> int:
            count = 0
            while not self._stopping and await self.send_one():
                count += 1
            return count

        return sum(await asyncio.gather(*(drain() for _ in range(self._workers))))

    async def run(self) -> None:
        """Send until `stop`: woken by NOTIFY when emails are queued, else by a poll."""
        try:
            while not self._stopping:
                try:
                    async with self._listening() as listener, asyncio.TaskGroup() as workers:
                        for _ in range(self._workers):
                            workers.create_task(self._work(listener))
                except Exception:
                    log.exception("email sender failed; retrying")
                    await self._idle(self._wake)
        finally:
            self._stopped.set()

    async def stop(self, grace: float) -> None:
        """Start no new email; wait (at most `grace` seconds) for those in flight to be marked.

        Past the grace period, cancelling `run` rolls back what is still in flight: those
        emails go again after a restart, with their Message-ID.
        """
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), grace)

    async def _work(self, listener: asyncpg.Connection) -> None:
        while not self._stopping and not listener.is_closed():
            wake = self._wake
            if not await self.send_one():
                await self._idle(wake)

    async def _idle(self, wake: asyncio.Event) -> None:
        # Retries fall due without a NOTIFY: the poll finds them (at most poll_interval late).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=self._poll_interval)

    @contextlib.asynccontextmanager
    async def _listening(self):
        connection = await self._pool.acquire()
        try:
            await connection.add_listener(repository.EMAILS_CHANNEL, self._on_notify)
            yield connection
        finally:
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await connection.remove_listener(repository.EMAILS_CHANNEL, self._on_notify)
            await self._pool.release(connection)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _retry_at(self, row: EmailRow, error: SendError, now: datetime) -> datetime | None:
        if error.permanent or self._retry.gives_up(row.queued_at, now):
            return None
        return now + self._retry.delay(row.attempts + 1)

    async def _send(self, row: EmailRow) -> SendError | None:
        try:
            rendered = self._renderer.render(
                Template(row.template), row.locale, EmailFacts.from_json(row.facts)
            )
            await self._mailer.send(
                build(
                    rendered,
                    sender=self._mail_from,
                    recipient=row.recipient,
                    message_id=message_id(row.event_id, row.recipient, self._domain),
                    date=datetime.now(UTC),
                )
            )
        except PermanentFailure as error:
            log.warning("email %s to %s refused for good: %s", row.event_id, row.recipient, error)
            return SendError(permanent=True, message=str(error))
        except TemporaryFailure as error:
            log.info("email %s to %s failed, will retry: %s", row.event_id, row.recipient, error)
            return SendError(permanent=False, message=str(error))
        except Exception as error:
            log.exception("email %s to %s could not be sent", row.event_id, row.recipient)
            return SendError(permanent=False, message=repr(error))
        return None
