"""What the autopay use-cases work through: a store of units of work, and a publisher.

The PostgreSQL adapters are in `store.py`; the unit tests' fakes in tests/unit/autopay/fakes.py.
"""

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from services.autopay.records import Decided, ProfileKey, SettingsRow, StoredProfile
from services.common.contract import PaymentMethodAdded, PortalSettings
from services.common.outbox import OutboxRecord
from services.common.parking_lot import ParkedEvents


class Decisions(Protocol):
    """The input ids processed (dedupe), the payment profiles, and the outbox."""

    async def processed_among(self, event_ids: Sequence[str]) -> set[str]: ...

    async def source_times(self, keys: Iterable[ProfileKey]) -> dict[ProfileKey, datetime | None]:
        """The time of the event behind each stored profile of `keys` (absent: no profile)."""

    async def record(self, decided: Decided) -> set[str]:
        """Record the input ids (the late ones as late) and, for the ids seen for the first
        time, their profiles and outgoing events; return those ids. Atomic on its own: a unit
        of work of this one write needs no transaction."""

    async def record_released(self, decided: Decided) -> set[str]:
        """Take the decided events out of the parked ones (recorded as processed when
        parked), with their profiles and outgoing events; return the ids taken out."""

    async def profiles_of(self, merchant_id: str, customer_id: str) -> list[StoredProfile]: ...


class SettingsProjection(Protocol):
    """Every version of every merchant's settings, as the settings service published them."""

    async def record(self, rows: Sequence[SettingsRow]) -> None:
        """Add the versions not yet known; a redelivered version changes nothing."""

    async def load_versions(
        self, wanted: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], PortalSettings]: ...

    async def latest_versions(
        self, merchants: Iterable[str]
    ) -> dict[str, tuple[int, PortalSettings]]:
        """Each merchant's latest version; merchants without settings are absent."""


class UnitOfWork(Protocol):
    decisions: Decisions
    settings: SettingsProjection
    parked: ParkedEvents[PaymentMethodAdded]


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Its writes appear together, and only if the block completes."""

    def session(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Each call its own transaction: for reads, and for a unit of work of one write."""


class Publisher(Protocol):
    async def submit(self, records: Sequence[OutboxRecord]) -> None:
        """Send committed outbox records (the relay sends those this does not)."""
