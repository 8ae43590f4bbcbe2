"""A stateful fake of the notifier's store, with transaction semantics (its mailer's fake:
`fake_mailer.py`)."""

import asyncio
import contextlib
import copy
import dataclasses
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from services.common.parking_lot import ToPark
from services.notifier.service import (
    ChoiceRow,
    EmailRow,
    FailedEmail,
    Outcome,
    QueuedEmail,
    Recipients,
)
from tests.unit.fakes.parking import FakeParkedEvents

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class FakeClock:
    """A wall clock that moves only when a test says so."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclasses.dataclass(frozen=True, slots=True)
class StoredEmail:
    """A row of the email queue."""

    row: EmailRow
    queued_at: datetime
    next_attempt_at: datetime
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    claimed_by: int | None = None


class FakeUnitOfWork:
    """The store's state as one unit of work sees it: its own copy inside a transaction."""

    def __init__(self, store: "FakeStore") -> None:
        self.store = store
        self.recipient_rows: dict[str, Recipients] = {}
        self.choice_rows: dict[str, ChoiceRow] = {}
        self.email_rows: dict[tuple[str, str], StoredEmail] = {}
        self.parked = FakeParkedEvents()
        # One object plays the three repositories: their methods' names do not overlap.
        self.recipients = self.choices = self.emails = self

    def copy(self) -> "FakeUnitOfWork":
        other = copy.copy(self)
        other.recipient_rows = dict(self.recipient_rows)
        other.choice_rows = dict(self.choice_rows)
        other.email_rows = dict(self.email_rows)
        other.parked = self.parked.copy()
        other.recipients = other.choices = other.emails = other
        return other

    # RecipientsProjection
    async def save(self, latest: Mapping[str, Recipients]) -> None:
        for merchant, recipients in latest.items():
            known = self.recipient_rows.get(merchant)
            if known is None or known.version < recipients.version:
                self.recipient_rows[merchant] = recipients

    async def of(self, merchant_ids: Collection[str]) -> dict[str, Recipients]:
        return {m: self.recipient_rows[m] for m in merchant_ids if m in self.recipient_rows}

    # Choices
    async def recorded_among(self, event_ids: Sequence[str]) -> set[str]:
        return set(event_ids) & set(self.choice_rows)

    async def record(self, rows: Sequence[ChoiceRow]) -> set[str]:
        new = {row.event_id: row for row in rows if row.event_id not in self.choice_rows}
        self.choice_rows.update(new)
        return set(new)

    # EmailQueue
    async def add(self, rows: Sequence[EmailRow]) -> None:
        if not rows:
            return
        now = self.store.clock()
        for row in rows:
            self.email_rows.setdefault((row.event_id, row.recipient), StoredEmail(row, now, now))
        self.store.notifications += 1

    async def claim_due(self, sender: int, limit: int) -> list[QueuedEmail]:
        due = sorted(
            (e for e in self.email_rows.values() if self._due(e)), key=lambda e: e.next_attempt_at
        )[:limit]
        for email in due:
            self.email_rows[_key(email.row)] = dataclasses.replace(email, claimed_by=sender)
        return [
            QueuedEmail(**dataclasses.asdict(e.row), attempts=e.attempts, queued_at=e.queued_at)
            for e in due
        ]

    async def failed(self) -> list[FailedEmail]:
        return [
            FailedEmail(e.row.event_id, e.row.recipient, e.attempts, e.queued_at, e.last_error)
            for e in self.email_rows.values()
            if e.status == "failed"
        ]

    async def requeue_failed(self, event_ids: Sequence[str] | None) -> int:
        now = self.store.clock()
        again = [
            e
            for e in self.email_rows.values()
            if e.status == "failed" and (event_ids is None or e.row.event_id in event_ids)
        ]
        for e in again:
            self.email_rows[_key(e.row)] = StoredEmail(e.row, now, now)
        self.store.notifications += 1
        return len(again)

    def _due(self, email: StoredEmail) -> bool:
        return (
            email.status == "pending"
            and email.next_attempt_at <= self.store.clock()
            and email.claimed_by not in self.store.live_senders
        )

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        await asyncio.sleep(0)  # a write is a round trip: others may end meanwhile
        for outcome in outcomes:
            email = self.email_rows[(outcome.event_id, outcome.recipient)]
            self.email_rows[_key(email.row)] = dataclasses.replace(
                email,
                status=outcome.status,
                attempts=email.attempts + 1,
                next_attempt_at=outcome.retry_at or email.next_attempt_at,
                last_error=outcome.error,
                claimed_by=None,
            )
        self.store.recorded_writes += 1


class FakeStore:
    """The notifier's tables in memory; a transaction's writes appear only if it completes,
    and `failing_commits` makes the next ones fail as a lost connection would."""

    def __init__(self, *, settings_wait: float = 10.0, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.state = FakeUnitOfWork(self)
        self.state.parked = FakeParkedEvents(
            arrived=self._arrived, wait=settings_wait, clock=lambda: self.clock().timestamp()
        )
        self.live_senders: set[int] = set()
        self.notifications = 0  # NOTIFYs to the senders
        self.recorded_writes = 0  # statements recording outcomes
        self.failing_commits = 0
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeUnitOfWork]:
        async with self._lock:
            work = self.state.copy()
            yield work
            if self.failing_commits:
                self.failing_commits -= 1
                raise ConnectionError("connection lost before the commit")
            self.state = work

    @contextlib.asynccontextmanager
    async def statements(self) -> AsyncIterator[FakeUnitOfWork]:
        yield self.state

    def emails_of(self, event_id: str) -> dict[str, StoredEmail]:
        return {r: e for (i, r), e in self.state.email_rows.items() if i == event_id}

    def _arrived(self, row: ToPark) -> bool:
        known = self.state.recipient_rows.get(row.merchant_id)
        return known is not None and known.version >= (row.settings_version or 0)


def _key(row: EmailRow) -> tuple[str, str]:
    return (row.event_id, row.recipient)
