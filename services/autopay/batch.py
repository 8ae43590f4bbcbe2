"""How a batch of new payment methods is sorted out before it is decided: which events are
parked (waiting for their settings version, or behind a parked event of their customer),
which are late, and how a chunk of them is recorded. Pure: the reads are done by the caller.
"""

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.autopay.choices import profile_key
from services.autopay.domain import late_events, needs_settings
from services.autopay.records import Decided, ProfileKey
from services.autopay.versions import VersionKey
from services.common.contract import PaymentMethodAdded, PortalSettings
from services.common.envelope import CloudEvent
from services.common.parking import Customer, to_park
from services.common.parking_lot import ToPark

Event = CloudEvent[PaymentMethodAdded]


@dataclass(slots=True)
class Batch:
    """What a batch's events need before they are decided, read once for the batch."""

    new: list[Event]  # not processed before, in order
    late: set[str] = field(default_factory=set)
    parked: dict[str, ToPark] = field(default_factory=dict)
    named: Mapping[VersionKey, PortalSettings] = field(default_factory=dict)

    def to_decide(self, events: Sequence[Event]) -> list[Event]:
        """Those of `events` (a chunk of `new`) decided now."""
        held = self.late | self.parked.keys()
        return [e for e in events if needs_settings(e.data.channel) and e.id not in held]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Events of a batch, ready to be recorded in one unit of work: decided, or parked."""

    decided: Decided
    parked: list[ToPark]


def sort_out(
    new: list[Event],
    named: Mapping[VersionKey, PortalSettings],
    customers_parked: set[Customer],
    current: Mapping[ProfileKey, datetime | None],
    *,
    may_wait: bool,
) -> Batch:
    """`new`: the batch's events not processed before; `named`: the versions they name that
    the projection holds; `customers_parked`: the customers with events parked already;
    `current`: the times behind the stored profiles; `may_wait`: events may be parked to
    wait for their version."""
    batch = Batch(new, named=named)
    to_decide = [e for e in new if needs_settings(e.data.channel)]
    waiting = [may_wait and _names_missing_version(e, named) for e in to_decide]
    parks = to_park(zip(map(customer, to_decide), waiting, strict=True), customers_parked)
    decided_now = []
    for event, park, waits in zip(to_decide, parks, waiting, strict=True):
        if park:
            batch.parked[event.id] = _to_park(event, waits)
        else:
            decided_now.append(event)
    batch.late = late_ids(decided_now, current)
    return batch


def chunks(events: Sequence[Event], size: int) -> list[list[Event]]:
    """`events` in chunks of about `size`, each customer's events in one chunk, in their
    order: no two chunks write the same rows, so that they may be recorded at once."""
    count = -(-len(events) // size)
    split: list[list[Event]] = [[] for _ in range(count)]
    for event in events:
        data = event.data
        split[zlib.crc32(f"{data.merchant_id}\0{data.customer_id}".encode()) % count].append(event)
    return [chunk for chunk in split if chunk]


def customer(event: Event) -> Customer:
    return (event.data.merchant_id, event.data.customer_id)


def late_ids(events: Sequence[Event], current: Mapping[ProfileKey, datetime | None]) -> set[str]:
    """The ids of the late events, given the times behind the stored profiles."""
    keys = [profile_key(e.data) for e in events]
    flags = late_events(zip(keys, [e.time for e in events], strict=True), current)
    return {e.id for e, late in zip(events, flags, strict=True) if late}


def _names_missing_version(event: Event, named: Mapping[VersionKey, PortalSettings]) -> bool:
    version = event.data.portal_settings_version
    return bool(version) and (event.data.merchant_id, version) not in named


def _to_park(event: Event, waits: bool) -> ToPark:
    data = event.data
    version = data.portal_settings_version if waits else None
    return ToPark(event, data.merchant_id, data.customer_id, version)
