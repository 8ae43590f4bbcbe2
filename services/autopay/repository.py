"""SQL of the autopay decisions (dedupe records, profiles, outbox): set-based, one statement
per batch (or chunk) and table. The settings projection's SQL is in `projection.py`."""

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
from pydantic import TypeAdapter

from services.autopay.records import Decided, ProfileKey, ProfileRow, StoredProfile
from services.common import outbox
from services.common.db import as_json

SCHEMA = "autopay"

# The profiles' JSON written from their schema: half the time of `as_json`, which finds out
# each row's fields as it goes (a chunk's profiles were ~7 % of the service's CPU).
_PROFILES_JSON = TypeAdapter(list[ProfileRow])


async def purge_processed_events(
    connection: asyncpg.Connection, before: datetime, limit: int
) -> int:
    """Forget up to `limit` input ids processed before `before`; return how many."""
    status = await connection.execute(
        f"""
        DELETE FROM {SCHEMA}.processed_events WHERE event_id IN (
            SELECT event_id FROM {SCHEMA}.processed_events
            WHERE processed_at < $1
            ORDER BY processed_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        """,
        before,
        limit,
    )
    return int(status.rpartition(" ")[2])


class PostgresDecisions:
    """The decisions as one connection sees them (in its transaction, if any)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def processed_among(self, event_ids: Sequence[str]) -> set[str]:
        rows = await self._connection.fetch(
            f"""
            SELECT event_id FROM {SCHEMA}.processed_events
            WHERE event_id IN (SELECT json_array_elements_text($1::json))
            """,
            as_json(event_ids),
        )
        return {row["event_id"] for row in rows}

    async def source_times(self, keys: Iterable[ProfileKey]) -> dict[ProfileKey, datetime | None]:
        """The time of the event behind each stored profile of `keys` (absent: no profile).

        A removed payment method's profile is final: every later event is late for it."""
        rows = await self._connection.fetch(
            f"""
            SELECT p.merchant_id, p.customer_id, p.payment_method_id,
                   CASE WHEN p.removed_at IS NULL THEN p.source_time ELSE 'infinity' END
                       AS source_time
            FROM {SCHEMA}.payment_profiles p
            JOIN ROWS FROM (json_array_elements_text($1::json->0),
                            json_array_elements_text($1::json->1),
                            json_array_elements_text($1::json->2)) AS k(m, c, pm)
              ON p.merchant_id = k.m AND p.customer_id = k.c AND p.payment_method_id = k.pm
            """,
            as_json(_columns(keys, 3)),
        )
        return {
            (row["merchant_id"], row["customer_id"], row["payment_method_id"]): row["source_time"]
            for row in rows
        }

    async def record(self, decided: Decided) -> set[str]:
        """Record the input ids, and for those seen for the first time their profiles and
        outgoing events; return those ids.

        One statement, hence one transaction and one round trip: a redelivered id (already
        recorded) writes nothing. The late ids are recorded as late (they decide nothing).
        """
        gate = f"""
            INSERT INTO {SCHEMA}.processed_events (event_id, late)
            SELECT e.id, l.id IS NOT NULL
            FROM json_array_elements_text($1::json) AS e(id)
            LEFT JOIN json_array_elements_text($9::json) AS l(id) ON l.id = e.id
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
        """
        return await self._record(gate, "", decided)

    async def record_released(self, decided: Decided) -> set[str]:
        """Take the decided events out of the parking lot (recorded as processed when parked),
        with their profiles and outgoing events; return the ids taken out."""
        gate = f"""
            DELETE FROM {SCHEMA}.parked_events
            WHERE event_id IN (SELECT json_array_elements_text($1::json))
            RETURNING event_id
        """
        late = f"""
            late AS (
                UPDATE {SCHEMA}.processed_events SET late = true
                WHERE event_id IN (SELECT json_array_elements_text($9::json))
                  AND event_id IN (SELECT event_id FROM gate)
            ),
        """
        return await self._record(gate, late, decided)

    async def _record(self, gate: str, more: str, decided: Decided) -> set[str]:
        """Write the profiles and outgoing events of the ids that `gate` (SQL returning event
        ids) lets through; return those ids.

        The outbox rows follow the shared outbox table's layout. Profiles must name each key
        once (the caller keeps the last decision). A profile never goes back to an older event's
        decision, whatever the caller found before (another instance may have written since).

        Ids and profiles travel as JSON (`as_json`); the outgoing records as arrays, because
        PostgreSQL reads their long values far faster from a bytea array than from JSON strings.
        """
        rows = await self._connection.fetch(
            f"""
            WITH gate AS ({gate}),
            {more}
            profiles AS (
                INSERT INTO {SCHEMA}.payment_profiles
                    (merchant_id, customer_id, payment_method_id, auto_process, decided_by,
                     settings_version, caused_by, box_ignored, settings_fallback, source_time,
                     customer_name, payment_method, channel, updated_at)
                SELECT p.*, now()
                FROM json_to_recordset($2::json)
                     AS p(merchant_id text, customer_id text, payment_method_id text,
                          auto_process boolean, decided_by text, settings_version integer,
                          caused_by text, box_ignored boolean, settings_fallback boolean,
                          source_time timestamptz, customer_name text, payment_method jsonb,
                          channel text)
                WHERE p.caused_by IN (SELECT event_id FROM gate)
                ON CONFLICT (merchant_id, customer_id, payment_method_id) DO UPDATE SET
                    auto_process = excluded.auto_process,
                    decided_by = excluded.decided_by,
                    settings_version = excluded.settings_version,
                    caused_by = excluded.caused_by,
                    box_ignored = excluded.box_ignored,
                    settings_fallback = excluded.settings_fallback,
                    source_time = excluded.source_time,
                    trigger = excluded.trigger,
                    customer_name = excluded.customer_name,
                    payment_method = excluded.payment_method,
                    channel = excluded.channel,
                    updated_at = excluded.updated_at
                WHERE payment_profiles.removed_at IS NULL
                  AND (payment_profiles.source_time IS NULL OR excluded.source_time IS NULL
                       OR excluded.source_time >= payment_profiles.source_time)
            ),
            queued AS (
                INSERT INTO {SCHEMA}.outbox (topic, key, event_id, headers, value)
                SELECT o.topic, o.key, o.event_id, o.headers, o.value
                FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                            $8::bytea[]) WITH ORDINALITY
                     AS o(caused_by, topic, key, event_id, headers, value, position)
                WHERE o.caused_by IN (SELECT event_id FROM gate)
                ORDER BY o.position
            )
            SELECT event_id FROM gate
            """,
            as_json(decided.event_ids),
            _PROFILES_JSON.dump_json(list(decided.profiles)).decode(),
            [cause for cause, _ in decided.outgoing],
            [record.topic for _, record in decided.outgoing],
            [record.key for _, record in decided.outgoing],
            [record.event_id for _, record in decided.outgoing],
            [outbox.stored_headers(record) for _, record in decided.outgoing],
            [record.value for _, record in decided.outgoing],
            as_json(decided.late_ids),
        )
        return {row["event_id"] for row in rows}

    async def profiles_of(self, merchant_id: str, customer_id: str) -> list[StoredProfile]:
        rows = await self._connection.fetch(
            f"""
            SELECT payment_method_id, auto_process, decided_by, settings_version, caused_by,
                   box_ignored, settings_fallback, updated_at
            FROM {SCHEMA}.payment_profiles
            WHERE merchant_id = $1 AND customer_id = $2 AND removed_at IS NULL
            ORDER BY updated_at, payment_method_id
            """,
            merchant_id,
            customer_id,
        )
        return [StoredProfile(**row) for row in rows]


def _columns(rows: Iterable[tuple], width: int) -> list[list]:
    """Rows as one list per column: PostgreSQL zips them back (`ROWS FROM`) faster than it
    reads a JSON object per row."""
    return [list(column) for column in zip(*rows, strict=True)] or [[]] * width
