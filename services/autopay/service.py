"""Use-cases of the autopay service: project settings, decide new payment methods.

Each chunk of a batch is one unit of work: the dedupe record of its input ids, the profiles,
the outgoing events (outbox) and the events parked to wait for their settings commit in one
transaction; the consumer commits the offset once every chunk of the batch has.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.autopay import projection, repository
from services.autopay.choices import decided, log_anomalies, profile_key
from services.autopay.decision_log import log_decisions
from services.autopay.domain import late_events, needs_settings
from services.autopay.versions import VERSIONS_KEPT, SettingsVersions, VersionKey, named_versions
from services.common import outbox
from services.common.contract import PaymentMethodAdded, PortalSettings, PortalSettingsChanged
from services.common.envelope import CloudEvent
from services.common.parking import Customer, to_park
from services.common.parking_lot import ParkingLot, ToPark
from services.common.releaser import Releaser

# Events per transaction: small enough that deciding a chunk overlaps recording the previous.
CHUNK_SIZE = 250

Publish = Callable[[Sequence[outbox.OutboxRecord]], Awaitable[None]]
Event = CloudEvent[PaymentMethodAdded]
Outgoing = list[tuple[str, outbox.OutboxRecord]]  # (input id, outgoing record), in order


@dataclass(slots=True)
class _Batch:
    """What a batch's events need before they are decided, read once for the batch."""

    new: list[Event]  # not processed before, in order
    late: set[str] = field(default_factory=set)
    parked: dict[str, ToPark] = field(default_factory=dict)
    named: Mapping[VersionKey, PortalSettings] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Decided events, ready to be recorded in one transaction."""

    event_ids: list[str]
    late_ids: list[str]
    profiles: list[repository.ProfileRow]
    outgoing: Outgoing
    parked: list[ToPark]


class AutopayService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        publish: Publish,
        *,
        settings_wait: float = 5.0,
        versions_kept: int = VERSIONS_KEPT,
    ) -> None:
        """`publish` hands committed outbox records over for sending (the relay is the safety
        net for those it does not send); `settings_wait` bounds how long an event waits for
        the settings version it names. Run `releaser.run()` to decide the parked events."""
        self._pool = pool
        self._publish = publish
        self._settings_wait = settings_wait
        self._versions = SettingsVersions(pool, kept=versions_kept)
        self._parking = ParkingLot(
            repository.SCHEMA,
            PaymentMethodAdded,
            arrived=projection.VERSION_ARRIVED,
            wait=settings_wait,
        )
        self.releaser = Releaser(self)

    async def record_settings(self, events: Sequence[CloudEvent[PortalSettingsChanged]]) -> None:
        """Keep every version: a payment method may name any of them."""
        rows = [
            projection.SettingsRow(e.data.merchant_id, e.data.version, e.data.settings, e.id)
            for e in events
        ]
        async with self._pool.acquire() as connection:
            await projection.record_settings(connection, rows)
        self.releaser.wake()  # the events parked for these versions may go

    async def record_payment_methods(self, events: Sequence[Event]) -> int:
        """Decide each new payment method's auto-process flag, exactly once per event id.

        Repeats (ids recorded before) are dropped first. An event naming a settings version
        not projected yet is parked, with the later events of its customer, and the rest are
        decided at once; late events (see `late_events`) are recorded and decide nothing.
        The batch is recorded chunk by chunk, in order, one statement per chunk; the next
        chunk is decided (Python) while the previous one's statement runs (PostgreSQL). When
        a chunk fails the batch fails, and its retry finds the chunks committed changing
        nothing.

        Returns how many of the events were duplicates (seen before, or twice in the batch).
        """
        first_of_each: dict[str, Event] = {}
        for event in events:
            first_of_each.setdefault(event.id, event)
        batch = await self._sort_out(list(first_of_each.values()))
        duplicates = len(events) - len(batch.new)
        recording: asyncio.Task[int] | None = None
        try:
            for start in range(0, len(batch.new), CHUNK_SIZE):
                chunk = await self._decide_chunk(batch, batch.new[start : start + CHUNK_SIZE])
                if recording is not None:
                    duplicates += await recording
                recording = asyncio.create_task(self._record_chunk(chunk))
                # Let it send its statement before the next chunk's decisions take the CPU.
                await asyncio.sleep(0)
            if recording is not None:
                duplicates += await recording
        finally:
            if recording is not None and not recording.done():
                recording.cancel()
                await asyncio.gather(recording, return_exceptions=True)
        if batch.parked:
            self.releaser.wake()  # one parked behind an event that just left may go too
        return duplicates

    async def release_parked(self) -> bool:
        """Decide the parked events that may go (in one transaction); False when none may."""
        async with self._pool.acquire() as connection, connection.transaction():
            events = await self._parking.on(connection).claim()
            if not events:
                return False
            keys = {profile_key(e.data) for e in events}
            late = _late(events, await repository.source_times(connection, keys))
            to_decide = [e for e in events if e.id not in late]
            named = await self._versions.named(named_versions(to_decide))
            profiles, outgoing = await self._decisions(to_decide, named)
            released = await repository.record_released(
                connection, [e.id for e in events], profiles, outgoing, sorted(late)
            )
        log_anomalies([p for p in profiles if p.caused_by in released], sorted(late & released))
        log_decisions(profiles, released)
        await self._publish([record for cause, record in outgoing if cause in released])
        return True

    async def seconds_to_next_bound(self) -> float | None:
        async with self._pool.acquire() as connection:
            return await self._parking.on(connection).seconds_to_next_bound()

    async def profiles_of(
        self, merchant_id: str, customer_id: str
    ) -> list[repository.StoredProfile]:
        async with self._pool.acquire() as connection:
            return await repository.profiles_of(connection, merchant_id, customer_id)

    async def _sort_out(self, events: Sequence[Event]) -> _Batch:
        """Drop the repeats; find the versions named, the events to park, the late ones.

        The reads (repeats, customers with events parked, the stored profiles' times, any
        version not in memory) run at once, on their own connections: the batch waits for
        one round trip, not three or four.
        """
        candidates = [e for e in events if needs_settings(e.data.channel)]
        if not candidates:
            done = await self._read(repository.processed_among, [e.id for e in events])
            return _Batch([e for e in events if e.id not in done])
        done, parked, current, named = await asyncio.gather(
            self._read(repository.processed_among, [e.id for e in events]),
            self._read(_customers_with_parked(self._parking), {_customer(e) for e in candidates}),
            self._read(repository.source_times, {profile_key(e.data) for e in candidates}),
            self._versions.named(named_versions(candidates)),
        )
        batch = _Batch([e for e in events if e.id not in done], named=named)
        to_decide = [e for e in batch.new if needs_settings(e.data.channel)]
        waiting = [self._waits_for(e, named) for e in to_decide]
        parks = to_park(zip(map(_customer, to_decide), waiting, strict=True), parked)
        decided_now = []
        for event, park, waits in zip(to_decide, parks, waiting, strict=True):
            if park:
                batch.parked[event.id] = _to_park(event, waits)
            else:
                decided_now.append(event)
        batch.late = _late(decided_now, current)
        return batch

    async def _read(self, query, *args):
        async with self._pool.acquire() as connection:
            return await query(connection, *args)

    def _waits_for(self, event: Event, named: Mapping[VersionKey, PortalSettings]) -> bool:
        # With no wait allowed, nothing is parked for its version.
        version = event.data.portal_settings_version
        missing = bool(version) and (event.data.merchant_id, version) not in named
        return missing and self._settings_wait > 0

    async def _decide_chunk(self, batch: _Batch, events: Sequence[Event]) -> _Chunk:
        held = batch.late | batch.parked.keys()
        to_decide = [e for e in events if needs_settings(e.data.channel) and e.id not in held]
        profiles, outgoing = await self._decisions(to_decide, batch.named)
        return _Chunk(
            event_ids=[e.id for e in events],
            late_ids=[e.id for e in events if e.id in batch.late],
            profiles=profiles,
            outgoing=outgoing,
            parked=[batch.parked[e.id] for e in events if e.id in batch.parked],
        )

    async def _decisions(
        self, events: Sequence[Event], named: Mapping[VersionKey, PortalSettings]
    ) -> tuple[list[repository.ProfileRow], Outgoing]:
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

    async def _record_chunk(self, chunk: _Chunk) -> int:
        """Returns how many of the chunk's events had been recorded before (another instance
        recorded them since the batch was read)."""
        async with self._pool.acquire() as connection:
            # One statement is a transaction of its own (no BEGIN, no COMMIT); parking is a
            # second one, in the same transaction.
            parking = connection.transaction() if chunk.parked else contextlib.nullcontext()
            async with parking:
                fresh = await repository.record_decisions(
                    connection, chunk.event_ids, chunk.profiles, chunk.outgoing, chunk.late_ids
                )
                if chunk.parked:
                    parked = [p for p in chunk.parked if p.event.id in fresh]
                    await self._parking.on(connection).park(parked)
        log_anomalies(
            [profile for profile in chunk.profiles if profile.caused_by in fresh],
            [event_id for event_id in chunk.late_ids if event_id in fresh],
        )
        log_decisions(chunk.profiles, fresh)
        await self._publish([record for cause, record in chunk.outgoing if cause in fresh])
        return len(chunk.event_ids) - len(fresh)


def _customers_with_parked(lot: ParkingLot):
    return lambda connection, customers: lot.on(connection).customers_with_parked(customers)


def _customer(event: Event) -> Customer:
    return (event.data.merchant_id, event.data.customer_id)


def _late(events: Sequence[Event], current: Mapping[repository.ProfileKey, datetime | None]):
    """The ids of the late events, given the times behind the stored profiles."""
    keys = [profile_key(e.data) for e in events]
    flags = late_events(zip(keys, [e.time for e in events], strict=True), current)
    return {e.id for e, late in zip(events, flags, strict=True) if late}


def _to_park(event: Event, waits: bool) -> ToPark:
    data = event.data
    version = data.portal_settings_version if waits else None
    return ToPark(event, data.merchant_id, data.customer_id, version)
