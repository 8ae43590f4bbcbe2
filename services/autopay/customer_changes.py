"""Use-cases of later changes: a customer's AutoPay request, a removed payment method.

Each batch is one unit of work: the dedupe record of its input ids, the profiles, the
outgoing events (outbox) and the requests parked to wait for their payment method commit
together; the committed events are then handed to `publish` (the outbox relay is the safety
net for those it does not send).
"""

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from services.autopay.change_outcomes import (
    HistoryEntry,
    Profile,
    ProfileChange,
    ProfileKey,
    Removed,
    Request,
    applied,
    choice,
    rejection,
    removed,
    request_key,
)
from services.autopay.changes import Removal, StoredState, Verdict, decide_change, decide_removal
from services.autopay.domain import AppliedSettings
from services.common.envelope import CloudEvent
from services.common.parking import Customer

log = logging.getLogger(__name__)

Publish = Callable[[Sequence], Awaitable[None]]


class ChangesUnitOfWork(Protocol):
    async def first_seen(self, event_ids: Sequence[str]) -> set[str]:
        """Record the ids as processed; return those recorded for the first time."""

    async def profiles_of(self, keys: Collection[ProfileKey]) -> dict[ProfileKey, Profile]:
        """The stored profiles of `keys`, held until the unit of work ends."""

    async def settings_of(self, merchant_id: str, version: int | None) -> AppliedSettings:
        """The version named if known, else the latest (see `applicable_settings`)."""

    async def save(self, changes: Sequence[ProfileChange]) -> None:
        """Write each change in order (each one leaves its history row)."""

    async def append(self, events: Sequence[CloudEvent]) -> list:
        """Queue `events` in the outbox; return their records, to publish once committed."""

    async def customers_waiting(self, customers: Collection[Customer]) -> set[Customer]: ...

    async def park(self, requests: Sequence[tuple[Request, bool]]) -> None:
        """Park (request, waits for its payment method) pairs, in order."""

    async def claim_waiting(self) -> list[Request]:
        """Take out, in order, the parked requests whose payment method arrived or whose
        bound passed (and those only queued behind them)."""


class ChangesStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[ChangesUnitOfWork]: ...

    async def history(
        self, key: ProfileKey, *, before: int | None, limit: int
    ) -> list[HistoryEntry]:
        """Up to `limit` changes older than position `before` (all when None), newest first."""

    async def seconds_to_next_bound(self) -> float | None:
        """Until the earliest bound of a waiting request; None when none waits."""


class CustomerChanges:
    def __init__(
        self,
        store: ChangesStore,
        publish: Publish,
        *,
        wait: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`wait` bounds how long a request waits for its payment method, in seconds."""
        self._store = store
        self._publish = publish
        self._may_wait = wait > 0
        self._clock = clock

    async def record_requests(self, events: Sequence[Request]) -> int:
        """Apply or reject each new request once; return how many were duplicates."""
        async with self._store.transaction() as work:
            fresh = await _first_seen(work, events)
            waiting = await work.customers_waiting({request_key(e.data)[:2] for e in fresh})
            records = await self._decide(work, fresh, waiting, may_wait=self._may_wait)
        await self._publish(records)
        return len(events) - len(fresh)

    async def history(
        self, key: ProfileKey, *, before: int | None = None, limit: int = 20
    ) -> list[HistoryEntry]:
        """Every change of one payment profile, newest first, a page at a time."""
        return await self._store.history(key, before=before, limit=limit)

    async def seconds_to_next_bound(self) -> float | None:
        return await self._store.seconds_to_next_bound()

    async def release_parked(self) -> bool:
        """Decide the parked requests that may go; False when none may (a `Releasable`)."""
        async with self._store.transaction() as work:
            events = await work.claim_waiting()
            if not events:
                return False
            records = await self._decide(work, events, set(), may_wait=False)
        await self._publish(records)
        return True

    async def record_removals(self, events: Sequence[Removed]) -> int:
        """Mark each removed payment method's profile removed, with AutoPay off."""
        async with self._store.transaction() as work:
            fresh = await _first_seen(work, events)
            profiles = await work.profiles_of({request_key(e.data) for e in fresh})
            changes, outgoing, at = [], [], self._clock()
            for event in fresh:
                key = request_key(event.data)
                profile = profiles.get(key)
                outcome = decide_removal(event.time, profile.state if profile else None)
                if outcome is Removal.NOTHING:
                    continue
                change = removed(event, profile, at)
                changes.append(change)
                profiles[key] = _after(change, profile)
                if outcome is Removal.END and profile and profile.details:
                    outgoing.append(choice(change, profile.details, at))
            await work.save(changes)
            records = await work.append(outgoing)
        await self._publish(records)
        return len(events) - len(fresh)

    async def _decide(
        self,
        work: ChangesUnitOfWork,
        events: Sequence[Request],
        waiting: Collection[Customer],
        *,
        may_wait: bool,
    ) -> list:
        """Decide `events` in order; a customer's requests after one that waits wait too."""
        profiles = await work.profiles_of({request_key(e.data) for e in events})
        queued, to_park = set(waiting), []
        changes, outgoing, at = [], [], self._clock()
        for event in events:
            key = request_key(event.data)
            profile = profiles.get(key)
            if key[:2] in queued:
                to_park.append((event, profile is None))
                continue
            settings = await work.settings_of(key[0], event.data.portal_settings_version)
            state = profile.state if profile else None
            decision = decide_change(
                event.data.auto_process, event.time, state, settings.settings, may_wait=may_wait
            )
            if decision.verdict is Verdict.WAIT:
                queued.add(key[:2])
                to_park.append((event, True))
            elif decision.verdict is Verdict.REJECT:
                assert decision.reason is not None
                outgoing.append(rejection(event, decision.reason, at))
            elif decision.verdict is Verdict.APPLY:
                assert profile is not None
                change = applied(event, settings.version, settings.fallback)
                changes.append(change)
                profiles[key] = _after(change, profile)
                outgoing.extend(_choice_of(change, profile, at))
        await work.save(changes)
        await work.park(to_park)
        return await work.append(outgoing)


async def _first_seen(work: ChangesUnitOfWork, events: Sequence[CloudEvent]) -> list:
    """The events not processed before, each id once, in order."""
    unique: dict[str, CloudEvent] = {}
    for event in events:
        unique.setdefault(event.id, event)
    fresh = await work.first_seen(list(unique))
    return [e for e in unique.values() if e.id in fresh]


def _after(change: ProfileChange, before: Profile | None) -> Profile:
    state = StoredState(change.auto_process, change.removed_at is not None, change.source_time)
    if before is None:
        return Profile(state, change.settings_version, None)
    return replace(before, state=state, settings_version=change.settings_version)


def _choice_of(change: ProfileChange, profile: Profile, at: datetime) -> list[CloudEvent]:
    if profile.details is None:
        # A profile stored before its card details were kept: nothing to describe it with.
        log.warning("no AutopayChoiceRecorded for %s: card details unknown", change.caused_by)
        return []
    return [choice(change, profile.details, at)]
