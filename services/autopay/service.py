"""Use-cases of the autopay service: project settings, decide new payment methods, release
the parked ones, read a customer's profiles.

Each chunk of a batch (its customers' events) is one unit of work: the dedupe record of its
input ids, the profiles, the outgoing events (outbox) and the events parked to wait for their
settings commit together; the consumer commits the offset once every chunk of the batch has.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from services.autopay.batch import Batch, Chunk, Event, chunks, customer, late_ids, sort_out
from services.autopay.choices import decided, log_anomalies, profile_key
from services.autopay.decision_log import log_decisions
from services.autopay.domain import needs_settings
from services.autopay.ports import Publisher, Store, UnitOfWork
from services.autopay.records import Decided, Outgoing, ProfileRow, SettingsRow, StoredProfile
from services.autopay.versions import VERSIONS_KEPT, SettingsVersions, VersionKey, named_versions
from services.common import outbox
from services.common.contract import PortalSettings, PortalSettingsChanged
from services.common.envelope import CloudEvent
from services.common.releaser import Releaser

# Events per unit of work: small enough that deciding a chunk overlaps recording the previous.
CHUNK_SIZE = 250
# Chunks recorded at once, each in its own session: PostgreSQL runs a statement on one core,
# and a chunk's statement takes longer than deciding the next chunk.
CHUNKS_AT_ONCE = 2

T = TypeVar("T")


class AutopayService:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        settings_wait: float = 5.0,
        versions_kept: int = VERSIONS_KEPT,
    ) -> None:
        """`publisher` sends committed outbox records (the relay is the safety net for those
        it does not send); `settings_wait` bounds how long an event waits for the settings
        version it names (the store parks for that long). Run `releaser.run()` to decide the
        parked events."""
        self._store = store
        self._publisher = publisher
        self._settings_wait = settings_wait
        self._versions = SettingsVersions(store, kept=versions_kept)
        self.releaser = Releaser(self)

    async def record_settings(self, events: Sequence[CloudEvent[PortalSettingsChanged]]) -> None:
        """Keep every version: a payment method may name any of them."""
        rows = [
            SettingsRow(e.data.merchant_id, e.data.version, e.data.settings, e.id) for e in events
        ]
        async with self._store.session() as unit:
            await unit.settings.record(rows)
        self.releaser.wake()  # the events parked for these versions may go

    async def record_payment_methods(self, events: Sequence[Event]) -> int:
        """Decide each new payment method's auto-process flag, exactly once per event id.

        Repeats (ids recorded before) are dropped first. An event naming a settings version
        not projected yet is parked, with the later events of its customer, and the rest are
        decided at once; late events (see `late_events`) are recorded and decide nothing.
        The batch is recorded in chunks split by customer (each customer's events in one
        chunk, in order), one statement per chunk; the next chunk is decided (Python) while
        the previous ones' statements run (PostgreSQL, `CHUNKS_AT_ONCE`). When a chunk fails
        the batch fails, and its retry finds the chunks committed changing nothing.

        Returns how many of the events were duplicates (seen before, or twice in the batch).
        """
        first_of_each: dict[str, Event] = {}
        for event in events:
            first_of_each.setdefault(event.id, event)
        batch = await self._sort_out(list(first_of_each.values()))
        duplicates = len(events) - len(batch.new)
        in_flight: list[asyncio.Task[int]] = []
        try:
            for events_of_chunk in chunks(batch.new, CHUNK_SIZE):
                chunk = await self._decide_chunk(batch, events_of_chunk)
                if len(in_flight) == CHUNKS_AT_ONCE:
                    duplicates += await in_flight.pop(0)
                in_flight.append(asyncio.create_task(self._record_chunk(chunk)))
                # Let it send its statement before the next chunk's decisions take the CPU.
                await asyncio.sleep(0)
            while in_flight:
                duplicates += await in_flight.pop(0)
        finally:
            for recording in in_flight:
                recording.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
        if batch.parked:
            self.releaser.wake()  # one parked behind an event that just left may go too
        return duplicates

    async def release_parked(self) -> bool:
        """Decide the parked events that may go (in one unit of work); False when none may."""
        async with self._store.transaction() as unit:
            events = await unit.parked.claim()
            if not events:
                return False
            keys = {profile_key(e.data) for e in events}
            late = late_ids(events, await unit.decisions.source_times(keys))
            to_decide = [e for e in events if e.id not in late]
            named = await self._versions.named(named_versions(to_decide))
            profiles, outgoing = await self._decisions(to_decide, named)
            decided = Decided([e.id for e in events], profiles, outgoing, sorted(late))
            released = await unit.decisions.record_released(decided)
        log_anomalies([p for p in profiles if p.caused_by in released], sorted(late & released))
        log_decisions(profiles, released)
        await self._publisher.submit([record for cause, record in outgoing if cause in released])
        return True

    async def seconds_to_next_bound(self) -> float | None:
        async with self._store.session() as unit:
            return await unit.parked.seconds_to_next_bound()

    async def profiles_of(self, merchant_id: str, customer_id: str) -> list[StoredProfile]:
        async with self._store.session() as unit:
            return await unit.decisions.profiles_of(merchant_id, customer_id)

    async def _sort_out(self, events: Sequence[Event]) -> Batch:
        """Drop the repeats; find the versions named, the events to park, the late ones.

        The reads (repeats, customers with events parked, the stored profiles' times, any
        version not in memory) run at once, each in its own session: the batch waits for
        one round trip, not three or four.
        """
        ids = [e.id for e in events]
        candidates = [e for e in events if needs_settings(e.data.channel)]
        if not candidates:
            done = await self._read(lambda unit: unit.decisions.processed_among(ids))
            return Batch([e for e in events if e.id not in done])
        customers = {customer(e) for e in candidates}
        keys = {profile_key(e.data) for e in candidates}
        done, parked, current, named = await asyncio.gather(
            self._read(lambda unit: unit.decisions.processed_among(ids)),
            self._read(lambda unit: unit.parked.customers_with_parked(customers)),
            self._read(lambda unit: unit.decisions.source_times(keys)),
            self._versions.named(named_versions(candidates)),
        )
        new = [e for e in events if e.id not in done]
        # With no wait allowed, nothing is parked for its version.
        return sort_out(new, named, parked, current, may_wait=self._settings_wait > 0)

    async def _read(self, query: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._store.session() as unit:
            return await query(unit)

    async def _decide_chunk(self, batch: Batch, events: Sequence[Event]) -> Chunk:
        profiles, outgoing = await self._decisions(batch.to_decide(events), batch.named)
        late = [e.id for e in events if e.id in batch.late]
        return Chunk(
            Decided([e.id for e in events], profiles, outgoing, late),
            parked=[batch.parked[e.id] for e in events if e.id in batch.parked],
        )

    async def _decisions(
        self, events: Sequence[Event], named: Mapping[VersionKey, PortalSettings]
    ) -> tuple[list[ProfileRow], Outgoing]:
        """The profiles (the last decision per payment method) and the outgoing events."""
        known = await self._versions.settings_for(events, named)
        decided_at = datetime.now(UTC)
        results = [decided(e, known.get(e.data.merchant_id, {}), decided_at) for e in events]
        records = outbox.encode([choice for _, choice in results])
        latest = {(p.merchant_id, p.customer_id, p.payment_method_id): p for p, _ in results}
        outgoing = [
            (choice.data.caused_by, record)
            for (_, choice), record in zip(results, records, strict=True)
        ]
        return list(latest.values()), outgoing

    async def _record_chunk(self, chunk: Chunk) -> int:
        """Returns how many of the chunk's events had been recorded before (another instance
        recorded them since the batch was read)."""
        # A chunk that parks nothing is one statement, a transaction of its own: BEGIN and
        # COMMIT would cost two round trips, and hold the statement back until the next
        # chunk is decided.
        unit_of_work = self._store.transaction() if chunk.parked else self._store.session()
        async with unit_of_work as unit:
            fresh = await unit.decisions.record(chunk.decided)
            if chunk.parked:
                await unit.parked.park([p for p in chunk.parked if p.event.id in fresh])
        decided = chunk.decided
        log_anomalies(
            [profile for profile in decided.profiles if profile.caused_by in fresh],
            [event_id for event_id in decided.late_ids if event_id in fresh],
        )
        log_decisions(decided.profiles, fresh)
        await self._publisher.submit(
            [record for cause, record in decided.outgoing if cause in fresh]
        )
        return len(decided.event_ids) - len(fresh)
