"""The notifier's SQL (schema `notifier`): the recipients projection, the choices handled,
and the `Store` that hands them out with the email queue (`email_queue.py`) and the parked
choices (`services/common/parking_lot.py`)."""

import contextlib
import json
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime

import asyncpg

from services.common.contract import AutopayChoiceRecorded
from services.common.parking_lot import ParkingLot
from services.notifier.email_queue import PostgresEmailQueue
from services.notifier.service import ChoiceRow, Recipients

SCHEMA = "notifier"

# When the settings version a parked choice (`p`) waits for is in the projection.
RECIPIENTS_ARRIVED = """EXISTS (
    SELECT 1 FROM notifier.recipients r
    WHERE r.merchant_id = p.merchant_id AND r.version >= p.settings_version)"""


class PostgresRecipients:
    """`RecipientsProjection` over one connection."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def save(self, latest: Mapping[str, Recipients]) -> None:
        # One row per merchant (PostgreSQL refuses to update a row twice in one statement).
        if not latest:
            return
        await self._connection.execute(
            """
            INSERT INTO notifier.recipients (merchant_id, version, emails, locale)
            SELECT merchant_id, version, ARRAY(SELECT jsonb_array_elements_text(emails)), locale
            FROM unnest($1::text[], $2::int[], $3::jsonb[], $4::text[])
                AS t (merchant_id, version, emails, locale)
            ON CONFLICT (merchant_id) DO UPDATE
            SET version = excluded.version, emails = excluded.emails, locale = excluded.locale,
                updated_at = now()
            WHERE recipients.version < excluded.version
            """,
            list(latest),
            [r.version for r in latest.values()],
            [json.dumps(r.emails) for r in latest.values()],
            [r.locale for r in latest.values()],
        )

    async def of(self, merchant_ids: Collection[str]) -> dict[str, Recipients]:
        rows = await self._connection.fetch(
            "SELECT merchant_id, version, emails, locale FROM notifier.recipients"
            " WHERE merchant_id = ANY($1::text[])",
            list(set(merchant_ids)),
        )
        return {
            row["merchant_id"]: Recipients(row["version"], list(row["emails"]), row["locale"])
            for row in rows
        }


class PostgresChoices:
    """`Choices` over one connection: the dedupe record of the choices handled."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def recorded_among(self, event_ids: Sequence[str]) -> set[str]:
        rows = await self._connection.fetch(
            "SELECT event_id FROM notifier.choices WHERE event_id = ANY($1::text[])",
            list(event_ids),
        )
        return {row["event_id"] for row in rows}

    async def record(self, rows: Sequence[ChoiceRow]) -> set[str]:
        inserted = await self._connection.fetch(
            """
            INSERT INTO notifier.choices
                (event_id, merchant_id, outcome, settings_version, recipients_version)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[])
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
            """,
            [row.event_id for row in rows],
            [row.merchant_id for row in rows],
            [row.outcome for row in rows],
            [row.settings_version for row in rows],
            [row.recipients_version for row in rows],
        )
        return {row["event_id"] for row in inserted}


class PostgresUnitOfWork:
    """The notifier's tables as one connection sees them (in its transaction, if any)."""

    def __init__(self, connection: asyncpg.Connection, parking: ParkingLot) -> None:
        self.recipients = PostgresRecipients(connection)
        self.choices = PostgresChoices(connection)
        self.emails = PostgresEmailQueue(connection)
        self.parked = parking.on(connection)


class PostgresStore:
    """Hands out units of work: one transaction each, or one statement per call.

    `settings_wait`: how long a parked choice waits for its settings version, in seconds.
    """

    def __init__(self, pool: asyncpg.Pool, *, settings_wait: float = 10.0) -> None:
        self._pool = pool
        self._parking = ParkingLot(
            SCHEMA, AutopayChoiceRecorded, arrived=RECIPIENTS_ARRIVED, wait=settings_wait
        )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresUnitOfWork]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresUnitOfWork(connection, self._parking)

    @contextlib.asynccontextmanager
    async def statements(self) -> AsyncIterator[PostgresUnitOfWork]:
        async with self._pool.acquire() as connection:
            yield PostgresUnitOfWork(connection, self._parking)


async def purge_choices(connection: asyncpg.Connection, before: datetime, limit: int) -> int:
    """Forget up to `limit` choices recorded before `before`, with their emails; a choice
    with an email still pending is kept. Returns how many choices went."""
    status = await connection.execute(
        """
        WITH old AS (
            SELECT event_id FROM notifier.choices AS c
            WHERE recorded_at < $1 AND NOT EXISTS (
                SELECT FROM notifier.emails AS e
                WHERE e.event_id = c.event_id AND e.status = 'pending'
            )
            ORDER BY recorded_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        ),
        emails AS (
            DELETE FROM notifier.emails AS e USING old WHERE e.event_id = old.event_id
        )
        DELETE FROM notifier.choices AS c USING old WHERE c.event_id = old.event_id
        """,
        before,
        limit,
    )
    return int(status.rpartition(" ")[2])
