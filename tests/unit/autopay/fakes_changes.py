"""A stateful in-memory store for the customer-changes use-cases: what the SQL keeps, kept
in dicts, so every rule is tested in milliseconds without servers."""

import contextlib
import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.autopay.change_outcomes import (
    Details,
    Profile,
    ProfileChange,
    ProfileKey,
    Request,
    request_key,
)
from services.autopay.changes import StoredState
from services.autopay.domain import AppliedSettings, applicable_settings
from services.common.contract import PaymentMethod, PortalSettings
from services.common.envelope import CloudEvent
from services.common.parking import Customer, releasable

DETAILS = Details(
    "Ada Lovelace", PaymentMethod(id="pm_1", type="card", brand="visa", last4="4242"), "api"
)


@dataclass
class _Parked:
    event: Request
    waits: bool
    until: datetime


@dataclass
class FakeChangesStore:
    wait: timedelta = timedelta(seconds=5)
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 4, 12, tzinfo=UTC))
    processed: set[str] = field(default_factory=set)
    profiles: dict[ProfileKey, Profile] = field(default_factory=dict)
    history_of: list[ProfileChange] = field(default_factory=list)
    settings: dict[str, dict[int, PortalSettings]] = field(default_factory=dict)
    outbox: list[CloudEvent] = field(default_factory=list)
    parked: list[_Parked] = field(default_factory=list)

    def add_profile(self, key: ProfileKey, auto_process: bool, at: datetime | None = None):
        state = StoredState(auto_process, removed=False, source_time=at)
        self.profiles[key] = Profile(state, 1, DETAILS)

    async def history(self, key: ProfileKey, *, before: int | None, limit: int) -> list:
        changes = [(n, c) for n, c in enumerate(self.history_of, 1) if c.key == key]
        older = [(n, c) for n, c in changes if before is None or n < before]
        return [c for _, c in reversed(older)][:limit]

    async def seconds_to_next_bound(self) -> float | None:
        bounds = [(p.until - self.now).total_seconds() for p in self.parked if p.waits]
        return min(bounds, default=None)

    def sent(self, kind: type) -> list:
        return [e.data for e in self.outbox if isinstance(e.data, kind)]

    @contextlib.asynccontextmanager
    async def transaction(self):
        saved = copy.deepcopy(self.__dict__)
        try:
            yield self
        except BaseException:
            self.__dict__.update(saved)
            raise

    async def first_seen(self, event_ids: Sequence[str]) -> set[str]:
        fresh = set(event_ids) - self.processed
        self.processed |= fresh
        return fresh

    async def profiles_of(self, keys: Collection[ProfileKey]) -> dict[ProfileKey, Profile]:
        return {key: self.profiles[key] for key in keys if key in self.profiles}

    async def settings_of(self, merchant_id: str, version: int | None) -> AppliedSettings:
        return applicable_settings(version, self.settings.get(merchant_id, {}))

    async def save(self, changes: Sequence[ProfileChange]) -> None:
        for change in changes:
            before = self.profiles.get(change.key)
            state = StoredState(
                change.auto_process, change.removed_at is not None, change.source_time
            )
            details = before.details if before else None
            self.profiles[change.key] = Profile(state, change.settings_version, details)
            self.history_of.append(change)

    async def append(self, events: Sequence[CloudEvent]) -> list:
        self.outbox.extend(events)
        return list(events)

    async def customers_waiting(self, customers: Collection[Customer]) -> set[Customer]:
        return {_customer(p.event) for p in self.parked} & set(customers)

    async def park(self, requests: Sequence[tuple[Request, bool]]) -> None:
        self.parked.extend(_Parked(e, waits, self.now + self.wait) for e, waits in requests)

    async def claim_waiting(self) -> list[Request]:
        leaving = []
        for customer in dict.fromkeys(_customer(p.event) for p in self.parked):
            queue = [p for p in self.parked if _customer(p.event) == customer]
            ready = [self._ready(p) for p in queue]
            leaving.extend(queue[: releasable(ready)])
        self.parked = [p for p in self.parked if p not in leaving]
        return [p.event for p in leaving]

    def _ready(self, parked: _Parked) -> bool:
        arrived = request_key(parked.event.data) in self.profiles
        return not parked.waits or arrived or parked.until <= self.now


def _customer(event: Request) -> Customer:
    return (event.data.merchant_id, event.data.customer_id)
