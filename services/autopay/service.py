"""Use-cases of the autopay service: project settings, decide new payment methods.

Each batch is one unit of work: the dedupe record of the input ids, the profiles and the
outgoing events (outbox) commit in one transaction, before the consumer commits the offset.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

import asyncpg

from services.autopay import repository
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
# Settings versions remembered (they never change); beyond this many, forget and reload.
VERSIONS_KEPT = 100_000


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

    async def record_payment_methods(
        self, events: Sequence[CloudEvent[PaymentMethodAdded]]
    ) -> None:
        """Decide each new payment method's auto-process flag, exactly once per event id.

        The decisions are computed for the whole batch, then one statement records the input
        ids and, for the ids not seen before, the profiles and the outgoing events: a
        redelivered event writes and publishes nothing.
        """
        first_of_each: dict[str, CloudEvent[PaymentMethodAdded]] = {}
        for event in events:
            first_of_each.setdefault(event.id, event)
        unique = list(first_of_each.values())
        decided = [e for e in unique if needs_settings(e.data.channel)]
        await self._wait_for_named_versions(decided)
        known = await self._settings_for(decided)
        decided_at = datetime.now(UTC)
        results = [_decide(e, known.get(e.data.merchant_id, {}), decided_at) for e in decided]
        # One customer's events are in order: the last decision of a batch wins.
        latest = {(p.merchant_id, p.customer_id, p.payment_method_id): p for p, _ in results}
        records = outbox.encode([choice for _, choice in results])
        outgoing = [
            (choice.data.caused_by, record)
            for (_, choice), record in zip(results, records, strict=True)
        ]
        async with self._pool.acquire() as connection:
            fresh = await repository.record_decisions(
                connection, [e.id for e in unique], list(latest.values()), outgoing
            )
        _log_anomalies([profile for profile, _ in results if profile.caused_by in fresh])
        published = [record for cause, record in outgoing if cause in fresh]
        await self._publish(published)

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
    return str(uuid.uuid5(CHOICE_ID_NAMESPACE, caused_by))


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
