"""The settings tables in PostgreSQL (schema `settings`): SQL with asyncpg, nothing else."""

import contextlib
import json
from collections.abc import AsyncIterator

import asyncpg

from services.common import outbox
from services.common.contract import ContractModel, Notification, PortalSettings
from services.common.envelope import CloudEvent
from services.settings.domain import Content, SettingsVersion

SCHEMA = "settings"

_VERSION_COLUMNS = "merchant_id, version, settings, notification, changed_by, changed_at"


class SettingsRepository:
    """The settings tables as seen by one connection (inside a transaction when writing)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def lock_current(self, merchant_id: str) -> SettingsVersion | None:
        """Lock the merchant's row until commit and return its current version (None: never saved).

        Concurrent saves of one merchant queue here, so each one reads the version the previous
        one committed: versions stay consecutive and outbox rows follow version order.
        """
        # The no-op update takes the row lock, creating the row for a first save, and
        # returns the version committed by whoever held the lock before.
        current = await self._connection.fetchval(
            "INSERT INTO settings.merchants AS m (merchant_id, current_version) VALUES ($1, 0)"
            " ON CONFLICT (merchant_id) DO UPDATE SET current_version = m.current_version"
            " RETURNING current_version",
            merchant_id,
        )
        # A new statement, so a new snapshot under READ COMMITTED: it sees that version's row.
        return await self.version(merchant_id, current) if current else None

    async def add(self, version: SettingsVersion, event: CloudEvent[ContractModel]) -> None:
        """Store `version` as the merchant's current one and its event in the outbox."""
        await self._connection.execute(
            f"WITH added AS (INSERT INTO settings.versions ({_VERSION_COLUMNS}, event_id)"
            " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7))"
            " UPDATE settings.merchants SET current_version = $2 WHERE merchant_id = $1",
            version.merchant_id,
            version.version,
            version.content.settings.model_dump_json(),
            version.content.notification.model_dump_json(),
            version.changed_by,
            version.changed_at,
            event.id,
        )
        await outbox.enqueue(self._connection, SCHEMA, [event])

    async def latest(self, merchant_id: str) -> SettingsVersion | None:
        row = await self._connection.fetchrow(
            f"SELECT {_VERSION_COLUMNS} FROM settings.versions WHERE merchant_id = $1"
            " ORDER BY version DESC LIMIT 1",
            merchant_id,
        )
        return _version(row) if row else None

    async def version(self, merchant_id: str, number: int) -> SettingsVersion | None:
        row = await self._connection.fetchrow(
            f"SELECT {_VERSION_COLUMNS} FROM settings.versions"
            " WHERE merchant_id = $1 AND version = $2",
            merchant_id,
            number,
        )
        return _version(row) if row else None

    async def history(
        self, merchant_id: str, *, before: int | None, limit: int
    ) -> list[SettingsVersion]:
        """Up to `limit` versions older than `before` (all when None), newest first."""
        rows = await self._connection.fetch(
            f"SELECT {_VERSION_COLUMNS} FROM settings.versions"
            " WHERE merchant_id = $1 AND ($2::integer IS NULL OR version < $2)"
            " ORDER BY version DESC LIMIT $3",
            merchant_id,
            before,
            limit,
        )
        return [_version(row) for row in rows]


class PostgresStore:
    """Hands out repositories: one transaction per unit of work, a plain connection to read."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SettingsRepository]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield SettingsRepository(connection)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[SettingsRepository]:
        async with self._pool.acquire() as connection:
            yield SettingsRepository(connection)


def _version(row: asyncpg.Record) -> SettingsVersion:
    return SettingsVersion(
        merchant_id=row["merchant_id"],
        version=row["version"],
        content=Content(
            settings=PortalSettings.model_validate_json(row["settings"]),
            # As stored: a version was valid when saved, and today's rules may be stricter (an
            # address saved before addresses had to be ASCII is shown; a save must replace it).
            notification=Notification.model_construct(**json.loads(row["notification"])),
        ),
        changed_at=row["changed_at"],
        changed_by=row["changed_by"],
    )
