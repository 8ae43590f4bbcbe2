"""What the notifier's use-cases work through, and the small ones: the recipients projection
and the operators' given-up emails.

A use-case opens a unit of work on a `Store` and sees the notifier's tables through it: the
recipients projection, the choices handled (the dedupe record), the email queue and the
choices parked to wait for their settings. The choices are turned into emails in
`recorder.py`, the emails sent in `delivery.py`; the SQL is in `repository.py` and
`email_queue.py`.
"""

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.common.contract import AutopayChoiceRecorded, PortalSettingsChanged
from services.common.envelope import CloudEvent
from services.common.parking_lot import ParkedEvents


@dataclass(frozen=True, slots=True)
class Recipients:
    version: int
    emails: list[str]
    locale: str


NO_RECIPIENTS = Recipients(version=0, emails=[], locale="en")


@dataclass(frozen=True, slots=True)
class ChoiceRow:
    event_id: str
    merchant_id: str
    outcome: str
    settings_version: int
    recipients_version: int


@dataclass(frozen=True, slots=True)
class EmailRow:
    event_id: str
    recipient: str
    template: str
    locale: str
    facts: dict


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    event_id: str
    recipient: str
    template: str
    locale: str
    facts: dict
    attempts: int
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one attempt: `sent`, `pending` (retry at `retry_at`) or `failed`."""

    event_id: str
    recipient: str
    status: str
    error: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FailedEmail:
    event_id: str
    recipient: str
    attempts: int
    queued_at: datetime
    last_error: str | None


class RecipientsProjection(Protocol):
    async def save(self, latest: Mapping[str, Recipients]) -> None:
        """Store each merchant's recipients; an older version never replaces a newer one."""

    async def of(self, merchant_ids: Collection[str]) -> dict[str, Recipients]: ...


class Choices(Protocol):
    async def recorded_among(self, event_ids: Sequence[str]) -> set[str]: ...

    async def record(self, rows: Sequence[ChoiceRow]) -> set[str]:
        """Record the choices not seen before; return the event ids that were new."""


class EmailQueue(Protocol):
    async def add(self, rows: Sequence[EmailRow]) -> None:
        """Queue emails (one per event and recipient: a second one is ignored), due now."""

    async def claim_due(self, sender: int, limit: int) -> list[QueuedEmail]:
        """Claim up to `limit` due emails for `sender`: those no live sender has claimed."""

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Record attempts and release their claims."""

    async def failed(self) -> list[FailedEmail]: ...

    async def requeue_failed(self, event_ids: Sequence[str] | None) -> int:
        """Make given-up emails (of `event_ids`, or all) due again from a new start."""


class UnitOfWork(Protocol):
    recipients: RecipientsProjection
    choices: Choices
    emails: EmailQueue
    parked: ParkedEvents[AutopayChoiceRecorded]


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Everything done through the unit of work commits together, or not at all."""

    def statements(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Each call commits on its own: for work of one write (the sender's claims and
        outcomes, on the sending path), which a transaction would only slow down."""


async def project_settings(
    store: Store, events: Sequence[CloudEvent[PortalSettingsChanged]]
) -> None:
    """Keep each merchant's latest recipients and locale; replays and old versions are no-ops."""
    latest: dict[str, PortalSettingsChanged] = {}
    for event in events:
        current = latest.get(event.data.merchant_id)
        if current is None or current.version < event.data.version:
            latest[event.data.merchant_id] = event.data
    async with store.transaction() as work:
        await work.recipients.save(
            {
                merchant: Recipients(s.version, list(s.notification.emails), s.notification.locale)
                for merchant, s in latest.items()
            }
        )


async def failed_emails(store: Store) -> list[FailedEmail]:
    async with store.statements() as work:
        return await work.emails.failed()


async def retry_failed(store: Store, event_ids: Sequence[str] | None) -> int:
    """Queue given-up emails again (those of `event_ids`, or all); return how many.

    They keep their Message-ID (derived from the event and the recipient), and a sender
    takes each once, as any queued email.
    """
    async with store.transaction() as work:
        return await work.emails.requeue_failed(event_ids)
