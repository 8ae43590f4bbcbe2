"""Use-cases of the autopay service: project settings, decide new payment methods.

Each chunk of a batch is one unit of work: the dedupe record of its input ids, the profiles
and the outgoing events (outbox) commit in one transaction; the consumer commits the offset
once every chunk of the batch has.
"""

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.autopay import repository
from services.autopay.decision_log import log_decisions
from services.autopay.domain import (
    DEFAULTS_VERSION,
    applicable_settings,
    decide,
    needs_settings,
)
from services.common import outbox
from services.common.contract import (
    AutopayChoiceRecorded,
    PaymentMethodAdded,
    PortalSettings,
    PortalSettingsChanged,
    event_type,
)
from services.common.envelope import CloudEvent

log = logging.getLogger(__name__)

SOURCE = "/portal-autopay/autopay"
CHOICE_TYPE = event_type(AutopayChoiceRecorded)
CHOICE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://portal-autopay/autopay/choices")
_CHOICE_ID_NAMESPACE_BYTES = CHOICE_ID_NAMESPACE.bytes
# Settings versions remembered (they never change); beyond this many, forget and reload.
VERSIONS_KEPT = 100_000


# Events per transaction: small enough that deciding a chunk overlaps recording the previous.
CHUNK_SIZE = 250


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Decided events, ready to be recorded in one transaction."""

    event_ids: list[str]
    profiles: list[repository.ProfileRow]
    # (input id, outgoing record), in input order.
    outgoing: list[tuple[str, outbox.OutboxRecord]]


Publish = Callable[[Sequence[outbox.OutboxRecord]], Awaitable[None]]


class AutopayService:
    def __init__(self, pool: asyncpg.Pool, publish: Publish, *, settings_wait: float = 5.0) -> None:
        """`publish` hands committed outbox records over for sending (the relay is the safety
        net for those it does not send)."""
        self._pool = pool
        self._publish = publish
        self._settings_wait = settings_wait
        self._versions: dict[tuple[str, int], PortalSettings] = {}

    async def record_settings(self, events: Sequence[CloudEvent[PortalSettingsChanged]]) -> None:
        """Keep every version: a payment method may name any of them."""
        rows = [
            repository.SettingsRow(e.data.merchant_id, e.data.version, e.data.settings, e.id)
            for e in events
        ]
        async with self._pool.acquire() as connection:
            await repository.record_settings(connection, rows)

    async def record_payment_methods(self, events: Sequence[CloudEvent[PaymentMethodAdded]]) -> int:
        """Decide each new payment method's auto-process flag, exactly once per event id.

        A batch is recorded chunk by chunk, in order: per chunk, one statement records the
        input ids and, for the ids not seen before, the profiles and the outgoing events, so
        a redelivered event writes and publishes nothing. The next chunk is decided (Python)
        while the previous one's statement runs (PostgreSQL). When a chunk fails the batch
        fails, and its retry finds the chunks already committed changing nothing.

        Returns how many of the events were duplicates (seen before, or twice in the batch).
        """
        first_of_each: dict[str, CloudEvent[PaymentMethodAdded]] = {}
        for event in events:
            first_of_each.setdefault(event.id, event)
        unique = list(first_of_each.values())
        duplicates = len(events) - len(unique)
        recording: asyncio.Task[int] | None = None
        try:
            for start in range(0, len(unique), CHUNK_SIZE):
                chunk = await self._decide_chunk(unique[start : start + CHUNK_SIZE])
                if recording is not None:
                    duplicates += await recording
                recording = asyncio.create_task(self._record_chunk(chunk))
                # Let it send its statement before the next chunk's decisions take the CPU.
                await asyncio.sleep(0)
            if recording is not None:
                duplicates += await recording
            return duplicates
        finally:
            if recording is not None and not recording.done():
                recording.cancel()
                await asyncio.gather(recording, return_exceptions=True)

    async def _decide_chunk(self, events: Sequence[CloudEvent[PaymentMethodAdded]]) -> _Chunk:
        decided = [e for e in events if needs_settings(e.data.channel)]
        await self._wait_for_named_versions(decided)
        known = await self._settings_for(decided)
        decided_at = datetime.now(UTC)
        results = [_decide(e, known.get(e.data.merchant_id, {}), decided_at) for e in decided]
        records = outbox.encode([choice for _, choice in results])
        return _Chunk(
            event_ids=[e.id for e in events],
            profiles=[profile for profile, _ in results],
            outgoing=[
                (choice.data.caused_by, record)
                for (_, choice), record in zip(results, records, strict=True)
            ],
        )

    async def _record_chunk(self, chunk: _Chunk) -> int:
        """Returns how many of the chunk's events had been recorded before."""
        # One customer's events are in order: the last decision of a chunk wins.
        latest = {(p.merchant_id, p.customer_id, p.payment_method_id): p for p in chunk.profiles}
        async with self._pool.acquire() as connection:
            fresh = await repository.record_decisions(
                connection, chunk.event_ids, list(latest.values()), chunk.outgoing
            )
        _log_anomalies([profile for profile in chunk.profiles if profile.caused_by in fresh])
        log_decisions(chunk.profiles, fresh)
        await self._publish([record for cause, record in chunk.outgoing if cause in fresh])
        return len(chunk.event_ids) - len(fresh)

    async def profiles_of(
        self, merchant_id: str, customer_id: str
    ) -> list[repository.StoredProfile]:
        async with self._pool.acquire() as connection:
            return await repository.profiles_of(connection, merchant_id, customer_id)

    async def _wait_for_named_versions(
        self, events: Sequence[CloudEvent[PaymentMethodAdded]]
    ) -> None:
        """Give settings versions the portal already showed a bounded time to arrive.

        Polls the projection (another instance may be the one recording the version) with
        back-off; outside any transaction, so nothing is held while waiting. Versions never
        change once recorded, so those found are kept in memory.
        """
        missing = _named_versions(events) - self._versions.keys()
        if not missing:
            return
        deadline = time.monotonic() + self._settings_wait
        delay = 0.02
        async with self._pool.acquire() as connection:
            missing = await self._load_versions(connection, missing)
            if missing:
                # A redelivered event was decided already: it has nothing to wait for.
                done = await repository.already_processed(connection, [e.id for e in events])
                missing &= _named_versions([e for e in events if e.id not in done])
        while missing and time.monotonic() < deadline:
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.5)
            async with self._pool.acquire() as connection:
                missing = await self._load_versions(connection, missing)
        if missing:
            log.warning(
                "settings versions %s did not arrive within %.1fs; deciding with the latest",
                sorted(missing),
                self._settings_wait,
            )

    async def _load_versions(
        self, connection: asyncpg.Connection, wanted: set[tuple[str, int]]
    ) -> set[tuple[str, int]]:
        """Remember the wanted versions the projection has; return those it has not."""
        if len(self._versions) > VERSIONS_KEPT:
            self._versions.clear()
        found = await repository.load_versions(connection, wanted)
        self._versions.update(found)
        return wanted - found.keys()

    async def _settings_for(
        self, events: Sequence[CloudEvent[PaymentMethodAdded]]
    ) -> dict[str, dict[int, PortalSettings]]:
        """Per merchant: the named versions known, plus the latest where one may apply."""
        known: dict[str, dict[int, PortalSettings]] = {}
        need_latest = set()
        for event in events:
            merchant, version = event.data.merchant_id, event.data.portal_settings_version
            if version and (merchant, version) in self._versions:
                known.setdefault(merchant, {})[version] = self._versions[merchant, version]
            elif version != DEFAULTS_VERSION:
                need_latest.add(merchant)
        if need_latest:
            async with self._pool.acquire() as connection:
                latest = await repository.latest_versions(connection, need_latest)
            for merchant, (version, settings) in latest.items():
                known.setdefault(merchant, {})[version] = settings
        return known


def _named_versions(events: Sequence[CloudEvent[PaymentMethodAdded]]) -> set[tuple[str, int]]:
    return {
        (e.data.merchant_id, e.data.portal_settings_version)
        for e in events
        if needs_settings(e.data.channel) and e.data.portal_settings_version
    }


def _decide(
    event: CloudEvent[PaymentMethodAdded], known: Mapping[int, PortalSettings], at: datetime
) -> tuple[repository.ProfileRow, CloudEvent[AutopayChoiceRecorded]]:
    data = event.data
    applied = applicable_settings(data.portal_settings_version, known)
    decision = decide(data.channel, applied.settings, data.use_for_autopay)
    assert decision is not None, "only channels that need settings are decided"
    profile = repository.ProfileRow(
        merchant_id=data.merchant_id,
        customer_id=data.customer_id,
        payment_method_id=data.payment_method.id,
        auto_process=decision.auto_process,
        decided_by=decision.decided_by,
        settings_version=applied.version,
        caused_by=event.id,
        box_ignored=decision.box_ignored,
        settings_fallback=applied.fallback,
    )
    choice = AutopayChoiceRecorded(
        merchant_id=data.merchant_id,
        customer_id=data.customer_id,
        customer_name=data.customer_name,
        payment_method=data.payment_method,
        channel=data.channel,
        auto_process=decision.auto_process,
        decided_by=decision.decided_by,
        box_default_checked=decision.box_default_checked,
        settings_version=applied.version,
        caused_by=event.id,
    )
    recorded = CloudEvent(
        id=choice_id(event.id),
        type=CHOICE_TYPE,
        source=SOURCE,
        subject=f"{data.merchant_id}:{data.customer_id}",
        time=at,
        data=choice,
    )
    return profile, recorded


def choice_id(caused_by: str) -> str:
    """The AutopayChoiceRecorded id of an input: derived from the input's id.

    Deciding the same input again (say, after its dedupe record were lost) gives the same
    id, which the consumers downstream drop as a repeat.
    """
    # What uuid.uuid5 returns, without building a UUID object: that took 3 µs per event.
    digest = bytearray(hashlib.sha1(_CHOICE_ID_NAMESPACE_BYTES + caused_by.encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant
    hex_digits = digest[:16].hex()
    return "-".join(
        (hex_digits[:8], hex_digits[8:12], hex_digits[12:16], hex_digits[16:20], hex_digits[20:])
    )


def _log_anomalies(profiles: Sequence[repository.ProfileRow]) -> None:
    ignored = [p.caused_by for p in profiles if p.box_ignored]
    if ignored:
        log.warning(
            "ignored %d box values sent while no box was shown (events %s%s)",
            len(ignored),
            ", ".join(ignored[:5]),
            ", …" if len(ignored) > 5 else "",
        )
    fallback = [p.caused_by for p in profiles if p.settings_fallback]
    if fallback:
        log.warning("decided with the latest settings after the wait: events %s", fallback)
