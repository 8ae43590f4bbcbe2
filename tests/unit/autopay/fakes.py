"""An autopay store that keeps its state in memory, with the same unit-of-work semantics,
and a publisher that keeps what it was handed."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.autopay.records import (
    Decided,
    ProfileKey,
    ProfileRow,
    SettingsRow,
    StoredProfile,
)
from services.common.contract import PortalSettings
from services.common.outbox import OutboxRecord
from services.common.parking_lot import ToPark
from tests.unit.fakes.parking import FakeClock, FakeParkedEvents

VersionKey = tuple[str, int]


@dataclass
class State:
    """What PostgreSQL would hold: a unit of work works on a copy, kept if it completes."""

    versions: dict[VersionKey, PortalSettings] = field(default_factory=dict)
    processed: dict[str, bool] = field(default_factory=dict)  # input id → recorded late
    profiles: dict[ProfileKey, tuple[ProfileRow, datetime]] = field(default_factory=dict)
    outbox: list[OutboxRecord] = field(default_factory=list)
    parked: FakeParkedEvents = field(default_factory=FakeParkedEvents)

    def copy(self) -> "State":
        return State(
            dict(self.versions),
            dict(self.processed),
            dict(self.profiles),
            list(self.outbox),
            self.parked.copy(),
        )


class FakeStore:
    """`fail_next_write()`: the next decisions write raises and writes nothing;
    `fail_next_commit()`: the next transaction raises at its end and keeps nothing."""

    def __init__(self, *, settings_wait: float = 5.0, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        parked = FakeParkedEvents(arrived=self._arrived, wait=settings_wait, clock=self.clock)
        self.state = State(parked=parked)
        self.writes_to_fail = 0
        self.commits_to_fail = 0
        self._lock = asyncio.Lock()

    def fail_next_write(self) -> None:
        self.writes_to_fail += 1

    def fail_next_commit(self) -> None:
        self.commits_to_fail += 1

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator["FakeUnitOfWork"]:
        async with self._lock:
            state = self.state.copy()
            yield FakeUnitOfWork(self, state)
            if self.commits_to_fail:
                self.commits_to_fail -= 1
                raise ConnectionError("injected: the commit failed")
            self.state = state

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator["FakeUnitOfWork"]:
        # Each call works on the state itself: without an await inside, it is atomic.
        yield FakeUnitOfWork(self, self.state)

    def _arrived(self, row: ToPark) -> bool:
        return (row.merchant_id, row.settings_version) in self.state.versions


class FakeUnitOfWork:
    def __init__(self, store: FakeStore, state: State) -> None:
        self.decisions = FakeDecisions(store, state)
        self.settings = FakeSettingsProjection(state)
        self.parked = state.parked


class FakeSettingsProjection:
    def __init__(self, state: State) -> None:
        self._state = state

    async def record(self, rows: Sequence[SettingsRow]) -> None:
        for row in rows:
            self._state.versions.setdefault((row.merchant_id, row.version), row.settings)

    async def load_versions(self, wanted: Iterable[VersionKey]) -> dict[VersionKey, PortalSettings]:
        return {key: self._state.versions[key] for key in wanted if key in self._state.versions}

    async def latest_versions(
        self, merchants: Iterable[str]
    ) -> dict[str, tuple[int, PortalSettings]]:
        latest: dict[str, tuple[int, PortalSettings]] = {}
        for (merchant, version), settings in sorted(self._state.versions.items()):
            if merchant in merchants:
                latest[merchant] = (version, settings)
        return latest


class FakeDecisions:
    def __init__(self, store: FakeStore, state: State) -> None:
        self._store = store
        self._state = state

    async def processed_among(self, event_ids: Sequence[str]) -> set[str]:
        return set(event_ids) & self._state.processed.keys()

    async def source_times(self, keys: Iterable[ProfileKey]) -> dict[ProfileKey, datetime | None]:
        profiles = self._state.profiles
        return {key: profiles[key][0].source_time for key in keys if key in profiles}

    async def record(self, decided: Decided) -> set[str]:
        self._fail_if_told()
        fresh = set(decided.event_ids) - self._state.processed.keys()
        late = set(decided.late_ids)
        self._state.processed.update({event_id: event_id in late for event_id in fresh})
        self._apply(fresh, decided)
        return fresh

    async def record_released(self, decided: Decided) -> set[str]:
        self._fail_if_told()
        released = set(decided.event_ids) & set(self._state.parked.event_ids)
        await self._state.parked.remove(sorted(released))
        late = released & set(decided.late_ids)
        self._state.processed.update({event_id: True for event_id in late})
        self._apply(released, decided)
        return released

    async def profiles_of(self, merchant_id: str, customer_id: str) -> list[StoredProfile]:
        mine = [
            (updated_at, row.payment_method_id, row)
            for (merchant, customer, _), (row, updated_at) in self._state.profiles.items()
            if (merchant, customer) == (merchant_id, customer_id)
        ]
        return [_stored(row, updated_at) for updated_at, _, row in sorted(mine)]

    def _apply(self, gate: set[str], decided: Decided) -> None:
        """As the SQL does: a profile never goes back to an older event's decision."""
        for profile in decided.profiles:
            key = (profile.merchant_id, profile.customer_id, profile.payment_method_id)
            stored = self._state.profiles.get(key)
            if profile.caused_by in gate and (stored is None or not _older(profile, stored[0])):
                updated_at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
                    seconds=self._store.clock()
                )
                self._state.profiles[key] = (replace(profile), updated_at)
        self._state.outbox.extend(record for cause, record in decided.outgoing if cause in gate)

    def _fail_if_told(self) -> None:
        if self._store.writes_to_fail:
            self._store.writes_to_fail -= 1
            raise ConnectionError("injected: the statement failed")


def _older(new: ProfileRow, stored: ProfileRow) -> bool:
    times = (new.source_time, stored.source_time)
    return None not in times and new.source_time < stored.source_time


def _stored(row: ProfileRow, updated_at: datetime) -> StoredProfile:
    return StoredProfile(
        row.payment_method_id,
        row.auto_process,
        row.decided_by,
        row.settings_version,
        row.caused_by,
        row.box_ignored,
        row.settings_fallback,
        updated_at,
    )


class FakePublisher:
    """The committed records it was handed; fails the calls it is told to (1 is the first)."""

    def __init__(self, failing_calls: Iterable[int] = ()) -> None:
        self.records: list[OutboxRecord] = []
        self._calls = 0
        self._failing = set(failing_calls)

    async def submit(self, records: Sequence[OutboxRecord]) -> None:
        self._calls += 1
        if self._calls in self._failing:
            raise RuntimeError("injected: the hand-over failed")
        self.records.extend(records)

    def choices(self) -> dict[str, dict]:
        """The AutopayChoiceRecorded data handed over, by the id of the event behind each."""
        return {choice["caused_by"]: choice for choice in map(_data, self.records)}

    def causes(self) -> list[str]:
        return self.causes_of(self.records)

    @staticmethod
    def causes_of(records: Iterable[OutboxRecord]) -> list[str]:
        """The ids of the events behind `records`, in order."""
        return [_data(record)["caused_by"] for record in records]


def _data(record: OutboxRecord) -> dict:
    return json.loads(record.value)
