"""The use-case that sends queued emails: claim the due ones, send them, record each outcome.

Up to `in_flight` emails are sent at once, and each attempt is recorded as soon as the server
has answered: attempts that end together are written in one statement, so the database keeps
up with the mail server. A temporary failure is retried later (RetryPolicy) until
`give_up_after`; a permanent one is given up at once. `sender.py` runs this in a loop.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parseaddr

from services.notifier.domain import EmailFacts, RetryPolicy, Template, message_id
from services.notifier.email_log import log_attempt
from services.notifier.mailer import Mailer, PermanentFailure, TemporaryFailure
from services.notifier.mime import build
from services.notifier.rendering import Renderer
from services.notifier.service import Outcome, QueuedEmail, Store

log = logging.getLogger(__name__)


class EmailDelivery:
    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        *,
        mail_from: str,
        renderer: Renderer | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 200,
        in_flight: int = 4,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._mail_from = mail_from
        self._domain = parseaddr(mail_from)[1].rpartition("@")[2] or "portal-autopay.localhost"
        self._renderer = renderer or Renderer()
        self._retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self._in_flight = asyncio.Semaphore(in_flight)
        self._clock = clock
        self._unrecorded: list[Outcome] = []
        self._recording = asyncio.Lock()
        self._stopping = False

    def stop(self) -> None:
        """Start no new email (those in flight are still answered and recorded)."""
        self._stopping = True

    async def send_batch(self, sender: int) -> int:
        """Claim one batch of due emails for `sender` and send them; return how many were
        claimed. Once stopped, no email is started: the claim ends with the sender."""
        async with self._store.statements() as work:
            emails = await work.emails.claim_due(sender, self.batch_size)
        async with asyncio.TaskGroup() as group:
            for email in emails:
                group.create_task(self._send_and_record(email))
        return len(emails)

    async def _send_and_record(self, email: QueuedEmail) -> None:
        async with self._in_flight:
            if self._stopping:
                return
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
            async with self._store.statements() as work:
                await work.emails.record_outcomes(outcomes)

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
                    date=self._clock(),
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
        now = self._clock()
        if permanent or self._retry.gives_up(email.queued_at, now):
            return Outcome(email.event_id, email.recipient, "failed", error)
        retry_at = now + self._retry.delay(email.attempts + 1)
        return Outcome(email.event_id, email.recipient, "pending", error, retry_at)
