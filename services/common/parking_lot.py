"""Parked events: what a unit of work may do with them (`ParkedEvents`), and that protocol
over PostgreSQL (table `<schema>.parked_events`).

A service that parks events migrates its schema with `MIGRATIONS` (the table) and says, as
SQL over the parked row `p`, when the version a row waits for has arrived in its own
projection.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Generic, Protocol

import asyncpg

from services.common.db import advisory_lock_key, as_json
from services.common.envelope import STRUCTURED_CONTENT_TYPE, CloudEvent, D, decode, to_json
from services.common.parking import Customer, releasable

# Numbered 0004, as when each service kept a copy: migrated databases know it by that name.
MIGRATIONS = Path(__file__).parent / "migrations" / "parking_lot"

_STRUCTURED = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


@dataclass(frozen=True, slots=True)
class ToPark:
    event: CloudEvent
    merchant_id: str
    customer_id: str
    # The version waited for; None when the event only waits for the customer's earlier ones.
    settings_version: int | None


class ParkedEvents(Protocol[D]):
    """The parked events, as one unit of work sees them (its writes commit with it)."""

    async def park(self, rows: Sequence[ToPark]) -> None:
        """Park `rows` in order; an event parked already stays as it is."""

    async def customers_with_parked(self, customers: Collection[Customer]) -> set[Customer]: ...

    async def claim(self, limit: int = 500) -> list[CloudEvent[D]]:
        """The parked events that may be decided now, in arrival order: those whose version
        arrived or whose bound passed, unless an earlier event of their customer still waits.
        The caller removes what it decided in the same unit of work."""

    async def remove(self, event_ids: Sequence[str]) -> None: ...

    async def seconds_to_next_bound(self) -> float | None:
        """Until the earliest bound of an event waiting for its version; None if none waits."""


@dataclass(frozen=True, slots=True)
class ParkingLot(Generic[D]):
    """A service's table of parked events. `arrived`: SQL, true when the version the row `p`
    waits for is in the projection; `wait`: how long a parked event waits for its version at
    most, in seconds."""

    schema: str
    model: type[D]
    arrived: str
    wait: float

    def on(self, connection: asyncpg.Connection) -> "PostgresParkedEvents[D]":
        """The parked events as seen by `connection` (in its transaction, if any)."""
        return PostgresParkedEvents(self, connection)


class PostgresParkedEvents(Generic[D]):
    """`ParkedEvents` over one connection."""

    def __init__(self, lot: ParkingLot[D], connection: asyncpg.Connection) -> None:
        self._lot = lot
        self._table = f"{lot.schema}.parked_events"
        self._connection = connection

    async def park(self, rows: Sequence[ToPark]) -> None:
        await self._connection.execute(
            f"""
            INSERT INTO {self._table}
                (event_id, merchant_id, customer_id, settings_version, park_until, event)
            SELECT p.event_id, p.merchant_id, p.customer_id, p.settings_version,
                   now() + make_interval(secs => $2), p.event::jsonb
            FROM json_to_recordset($1::json)
                 AS p(event_id text, merchant_id text, customer_id text,
                      settings_version integer, event text, arrival bigint)
            ORDER BY p.arrival
            ON CONFLICT (event_id) DO NOTHING
            """,
            as_json(
                [
                    {
                        "arrival": arrival,
                        "event_id": row.event.id,
                        "merchant_id": row.merchant_id,
                        "customer_id": row.customer_id,
                        "settings_version": row.settings_version,
                        "event": to_json(row.event),
                    }
                    for arrival, row in enumerate(rows)
                ]
            ),
            self._lot.wait,
        )

    async def customers_with_parked(self, customers: Collection[Customer]) -> set[Customer]:
        rows = await self._connection.fetch(
            f"""
            SELECT DISTINCT p.merchant_id, p.customer_id FROM {self._table} p
            JOIN ROWS FROM (json_array_elements_text($1::json->0),
                            json_array_elements_text($1::json->1)) AS c(m, c)
              ON p.merchant_id = c.m AND p.customer_id = c.c
            """,
            as_json([[merchant for merchant, _ in customers], [c for _, c in customers]]),
        )
        return {(row["merchant_id"], row["customer_id"]) for row in rows}

    async def claim(self, limit: int = 500) -> list[CloudEvent[D]]:
        # One instance claims at a time, holding an advisory lock until the caller's
        # transaction ends (a customer's events must leave in order); the others find
        # nothing meanwhile.
        lock_key = advisory_lock_key(f"parking:{self._lot.schema}")
        if not await self._connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_key):
            return []
        rows = await self._connection.fetch(
            f"""
            WITH queue AS (
                SELECT p.position, p.merchant_id, p.customer_id, p.event::text AS event,
                       (p.settings_version IS NULL OR p.park_until <= now()
                        OR {self._lot.arrived}) AS ready,
                       row_number() OVER (PARTITION BY p.merchant_id, p.customer_id
                                          ORDER BY p.position) AS place
                FROM {self._table} p
            )
            SELECT * FROM queue
            WHERE (merchant_id, customer_id) IN
                  (SELECT merchant_id, customer_id FROM queue WHERE place = 1 AND ready)
            ORDER BY merchant_id, customer_id, position
            LIMIT $1
            """,
            limit,
        )
        leaving = []
        for _, queue in groupby(rows, key=lambda row: (row["merchant_id"], row["customer_id"])):
            queue = list(queue)
            leaving.extend(queue[: releasable([row["ready"] for row in queue])])
        leaving.sort(key=lambda row: row["position"])
        return [decode(_STRUCTURED, row["event"].encode(), self._lot.model) for row in leaving]

    async def remove(self, event_ids: Sequence[str]) -> None:
        await self._connection.execute(
            f"DELETE FROM {self._table} WHERE event_id IN"
            " (SELECT json_array_elements_text($1::json))",
            as_json(event_ids),
        )

    async def seconds_to_next_bound(self) -> float | None:
        return await self._connection.fetchval(
            f"SELECT extract(epoch FROM min(park_until) - now())::float8 FROM {self._table}"
            " WHERE settings_version IS NOT NULL"
        )
