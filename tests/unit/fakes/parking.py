"""Parked events kept in memory, with the rules of the PostgreSQL table."""

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from services.common.envelope import CloudEvent
from services.common.parking import Customer, releasable
from services.common.parking_lot import ToPark


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True, slots=True)
class Parked:
    row: ToPark
    position: int
    park_until: float


class FakeParkedEvents:
    """`ParkedEvents` in a list. `arrived(row)`: the version `row` waits for is known;
    `copy()` gives a unit of work its own rows, which the store keeps only on commit."""

    def __init__(
        self,
        *,
        arrived: Callable[[ToPark], bool] = lambda row: False,
        wait: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.rows: list[Parked] = []
        self.arrived = arrived
        self.wait = wait
        self.clock = clock or FakeClock()
        self._positions = itertools.count()

    def copy(self) -> "FakeParkedEvents":
        other = FakeParkedEvents(arrived=self.arrived, wait=self.wait, clock=self.clock)
        other.rows = list(self.rows)
        other._positions = self._positions  # positions keep growing, as a sequence does
        return other

    @property
    def event_ids(self) -> list[str]:
        return [parked.row.event.id for parked in self.rows]

    async def park(self, rows: Sequence[ToPark]) -> None:
        known = set(self.event_ids)
        for row in rows:
            if row.event.id not in known:
                known.add(row.event.id)
                until = self.clock() + self.wait
                self.rows.append(Parked(row, next(self._positions), until))

    async def customers_with_parked(self, customers: Collection[Customer]) -> set[Customer]:
        return {_customer(p) for p in self.rows} & set(customers)

    async def claim(self, limit: int = 500) -> list[CloudEvent]:
        queues: dict[Customer, list[Parked]] = {}
        for parked in sorted(self.rows, key=lambda p: (_customer(p), p.position)):
            queues.setdefault(_customer(parked), []).append(parked)
        candidates = [p for queue in queues.values() if self._ready(queue[0]) for p in queue]
        leaving: list[Parked] = []
        for _, queue in itertools.groupby(candidates[:limit], key=_customer):
            queue = list(queue)
            leaving.extend(queue[: releasable([self._ready(p) for p in queue])])
        return [p.row.event for p in sorted(leaving, key=lambda p: p.position)]

    async def remove(self, event_ids: Sequence[str]) -> None:
        gone = set(event_ids)
        self.rows = [p for p in self.rows if p.row.event.id not in gone]

    async def seconds_to_next_bound(self) -> float | None:
        bounds = [p.park_until for p in self.rows if p.row.settings_version is not None]
        return min(bounds) - self.clock() if bounds else None

    def _ready(self, parked: Parked) -> bool:
        return (
            parked.row.settings_version is None
            or parked.park_until <= self.clock()
            or self.arrived(parked.row)
        )


def _customer(parked: Parked) -> Customer:
    return (parked.row.merchant_id, parked.row.customer_id)
