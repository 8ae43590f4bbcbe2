"""The notifier's use-cases: project recipients, record choices, send the queued emails."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr

import asyncpg

from services.common.contract import AutopayChoiceRecorded, PortalSettingsChanged
from services.common.db import TRANSIENT_DB_ERRORS
from services.common.envelope import CloudEvent
from services.notifier import repository
from services.notifier.domain import (
    EmailFacts,
    Outcome,
    RetryPolicy,
    Template,
    email_facts,
    merchants_behind,
    message_id,
    outcome_for,
    settings_needed,
    template_for,
)
from services.notifier.mailer import Mailer, PermanentFailure, TemporaryFailure
from services.notifier.mime import build
from services.notifier.rendering import Renderer
from services.notifier.repository import ChoiceRow, EmailRow, Recipients

log = logging.getLogger(__name__)

DEFAULT_RETRY = RetryPolicy()


async def project_settings(
    pool: asyncpg.Pool, events: Sequence[CloudEvent[PortalSettingsChanged]]
) -> None:
    """Keep each merchant's latest recipients and locale; replays and old versions are no-ops."""
    latest: dict[str, PortalSettingsChanged] = {}
    for event in events:
        current = latest.get(event.data.merchant_id)
        if current is None or current.version < event.data.version:
            latest[event.data.merchant_id] = event.data
    async with pool.acquire() as connection, connection.transaction():
        rows = [
            (d.merchant_id, d.version, list(d.notification.emails), d.notification.locale)
            for d in latest.values()
        ]
        await repository.save_recipients(connection, rows)


class ChoiceRecorder:
    """Turns AutopayChoiceRecorded events into queued emails, once per event id.

    A choice made under settings the projection has not seen yet (they travel on another
    topic) waits for them, with back-off, up to `settings_wait` seconds; past that it uses
    the latest recipients known, and says so in the log and in `choices.recipients_version`.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        settings_wait: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._settings_wait = settings_wait
        self._sleep = sleep

    async def __call__(self, events: Sequence[CloudEvent[AutopayChoiceRecorded]]) -> None:
        unique = list({event.id: event for event in events}.values())
        merchants = {event.data.merchant_id for event in unique}
        needed = settings_needed(event.data for event in unique)
        deadline = time.monotonic() + self._settings_wait
        delay = 0.02
        while True:
            async with self._pool.acquire() as connection, connection.transaction():
                known = await repository.recipients_of(connection, merchants)
                behind = merchants_behind(needed, {m: r.version for m, r in known.items()})
                if not behind or time.monotonic() + delay > deadline:
                    if behind:
                        log.warning(
                            "settings of %s not seen after %.0fs; using the latest recipients",
                            ", ".join(behind),
                            self._settings_wait,
                        )
                    await self._record(connection, unique, known)
                    return
            await self._sleep(delay)
            delay = min(delay * 2, 1.0)

    @staticmethod
    async def _record(
        connection: asyncpg.Connection,
        events: Sequence[CloudEvent[AutopayChoiceRecorded]],
        known: dict[str, Recipients],
    ) -> None:
        choices, emails = [], []
        for event in events:
            recipients = known.get(event.data.merchant_id, NO_RECIPIENTS)
            choices.append(_choice_row(event, recipients))
            emails.extend(_email_rows(event, recipients))
        new = await repository.record_choices(connection, choices)
        await repository.add_emails(connection, [row for row in emails if row.event_id in new])
        for choice in choices:
            if choice.event_id in new and choice.outcome == Outcome.NO_RECIPIENT:
                log.info(
                    "choice %s: merchant %s has no notification address",
                    choice.event_id,
                    choice.merchant_id,
                )


NO_RECIPIENTS = Recipients(version=0, emails=[], locale="en")


def _choice_row(event: CloudEvent[AutopayChoiceRecorded], recipients: Recipients) -> ChoiceRow:
    return ChoiceRow(
        event_id=event.id,
        merchant_id=event.data.merchant_id,
        outcome=outcome_for(event.data, recipients.emails),
        settings_version=event.data.settings_version,
        recipients_version=recipients.version,
    )


def _email_rows(event: CloudEvent[AutopayChoiceRecorded], recipients: Recipients) -> list[EmailRow]:
    template = template_for(event.data)
    if template is None:
        return []
    facts = email_facts(
        event.data, event_id=event.id, occurred_at=event.time, locale=recipients.locale
    )
    return [
        EmailRow(event.id, address, template, recipients.locale, facts.to_json())
        for address in dict.fromkeys(recipients.emails)
    ]


class Sender:
    """Sends queued emails: due rows are locked, sent concurrently, and marked in one go.

    Several senders (instances) share the queue: `FOR UPDATE SKIP LOCKED` gives each row to
    one of them. A crash after sending and before marking resends with the same Message-ID.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        mailer: Mailer,
        *,
        mail_from: str,
        renderer: Renderer | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        batch_size: int = 200,
        poll_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._mailer = mailer
        self._mail_from = mail_from
        self._domain = parseaddr(mail_from)[1].rpartition("@")[2] or "portal-autopay.localhost"
        self._renderer = renderer or Renderer()
        self._retry = retry
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()

    async def send_due(self) -> int:
        """Send one batch of due emails; return how many were attempted."""
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await repository.claim_due(connection, self._batch_size)
            if not rows:
                return 0
            errors = await asyncio.gather(*(self._send(row) for row in rows))
            now = datetime.now(UTC)
            outcomes = list(zip(rows, errors, strict=True))
            sent = [(row.event_id, row.recipient) for row, error in outcomes if error is None]
            failed = [
                (row.event_id, row.recipient, error.message, self._retry_at(row, error, now))
                for row, error in outcomes
                if error is not None
            ]
            if sent:
                await repository.mark_sent(connection, sent)
            if failed:
                await repository.mark_failed(connection, failed)
        return len(rows)

    async def run(self) -> None:
        """Send until cancelled: woken by NOTIFY when emails are queued, else by a poll."""
        while True:
            try:
                async with self._listening() as listener:
                    while not listener.is_closed():
                        self._wake.clear()
                        while await self.send_due() == self._batch_size:
                            pass
                        await self._idle()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("email sender failed; retrying")
                await asyncio.sleep(self._poll_interval)

    def _retry_at(self, row: EmailRow, error: "SendError", now: datetime) -> datetime | None:
        attempts = row.attempts + 1
        if error.permanent or self._retry.gives_up(attempts):
            return None
        return now + self._retry.delay(attempts)

    async def _idle(self) -> None:
        # Retries fall due without a NOTIFY: the poll finds them (at most poll_interval late).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

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

    async def _send(self, row: EmailRow) -> "SendError | None":
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


@dataclass(frozen=True, slots=True)
class SendError:
    permanent: bool
    message: str
