"""The email sender: takes the queued emails from `notifier.emails` to the mail server.

It claims due emails a batch at a time (see `email_queue`: a claim lasts as long as the
sender's session), sends up to `in_flight` at once, and records each attempt as soon as the
server has answered: attempts that end together are written in one statement, so the
database keeps up with the mail server. On `stop` it starts no new email and waits for those
in flight to be answered and recorded; the rest of its claim is freed with its session.
"""

import asyncio
import contextlib
import logging
import secrets
from datetime import UTC, datetime
from email.utils import parseaddr

import asyncpg

from services.common.wakeups import Listen, WakeUpLoop
from services.notifier import email_queue, repository
from services.notifier.domain import EmailFacts, RetryPolicy, Template, message_id
from services.notifier.email_log import log_attempt
from services.notifier.email_queue import Outcome, QueuedEmail
from services.notifier.mailer import Mailer, PermanentFailure, TemporaryFailure
from services.notifier.mime import build
from services.notifier.rendering import Renderer

log = logging.getLogger(__name__)


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        mailer: Mailer,
        *,
        mail_from: str,
        renderer: Renderer | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 200,
        in_flight: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._mailer = mailer
        self._mail_from = mail_from
        self._domain = parseaddr(mail_from)[1].rpartition("@")[2] or "portal-autopay.localhost"
        self._renderer = renderer or Renderer()
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self._in_flight = asyncio.Semaphore(in_flight)
        self._loop = WakeUpLoop(
            "email sender",
            listen=Listen(pool, repository.EMAILS_CHANNEL, on_connect=self._take_key),
            poll_interval=poll_interval,
        )
        self._key = 0
        self._stopping = False
        self._stopped = asyncio.Event()
        self._unrecorded: list[Outcome] = []
        self._recording = asyncio.Lock()

    async def send_due(self) -> int:
        """Send one batch of due emails; return how many were attempted."""
        async with self._pool.acquire() as connection:
            await self._take_key(connection)
            return await self._send_batch(self._key)

    async def run(self) -> None:
        """Send until `stop`: woken by NOTIFY when emails are queued, else by a poll."""
        try:
            await self._loop.run(self._send_next_batch)
        finally:
            self._stopped.set()

    async def stop(self, grace: float) -> None:
        """Start no new email; wait (at most `grace` seconds) for those in flight.

        Past the grace period, cancelling `run` abandons them: an email the server accepted
        but that was not recorded goes again after a restart, with its Message-ID.
        """
        self._stopping = True
        self._loop.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), grace)

    async def _send_batch(self, key: int) -> int:
        emails = await email_queue.claim_due(self._pool, key, self._batch_size)
        async with asyncio.TaskGroup() as group:
            for email in emails:
                group.create_task(self._send_and_record(email))
        return len(emails)

    async def _send_and_record(self, email: QueuedEmail) -> None:
        async with self._in_flight:
            if self._stopping:
                return  # not started: the claim ends with this sender's session
            outcome = await self._send(email)
        log_attempt(email, outcome)
        await self._record(outcome)

    async def _record(self, outcome: Outcome) -> None:
        """Return once `outcome` is committed, written with whatever else has ended by then."""
        self._unrecorded.append(outcome)
        async with self._recording:
            if not self._unrecorded:
                return  # the writer before us took ours along
            outcomes, self._unrecorded = self._unrecorded, []
            await email_queue.record_outcomes(self._pool, outcomes)

    async def _send_next_batch(self) -> float | None:
        # Retries fall due without a NOTIFY: the poll finds them (at most poll_interval late).
        return 0 if await self._send_batch(self._key) == self._batch_size else None

    async def _take_key(self, connection: asyncpg.Connection) -> None:
        """A fresh sender key, held by `connection`: its claims live as long as it does."""
        key = secrets.randbelow(2**31 - 1) + 1
        while not await email_queue.hold_sender_key(connection, key):
            key = secrets.randbelow(2**31 - 1) + 1
        self._key = key  # the connection's reset, when the pool takes it back, frees it

    async def _send(self, email: QueuedEmail) -> Outcome:
        try:
            rendered = self._renderer.render(
                Template(email.template), email.locale, EmailFacts.from_json(email.facts)
            )
            await self._mailer.send(
                build(
                    rendered,
                    sender=self._mail_from,
                    recipient=email.recipient,
                    message_id=message_id(email.event_id, email.recipient, self._domain),
                    date=datetime.now(UTC),
                )
            )
        # Each outcome is logged once, by `log_attempt`, without the full address.
        except PermanentFailure as error:
            return self._failure(email, str(error), permanent=True)
        except TemporaryFailure as error:
            return self._failure(email, str(error), permanent=False)
        except Exception as error:
            log.exception("email %s could not be sent", email.event_id)
            return self._failure(email, repr(error), permanent=False)
        return Outcome(email.event_id, email.recipient, "sent")

    def _failure(self, email: QueuedEmail, error: str, *, permanent: bool) -> Outcome:
        now = datetime.now(UTC)
        if permanent or self._retry.gives_up(email.queued_at, now):
            return Outcome(email.event_id, email.recipient, "failed", error)
        retry_at = now + self._retry.delay(email.attempts + 1)
        return Outcome(email.event_id, email.recipient, "pending", error, retry_at)
