"""SQL of the autopay settings projection: every version of every merchant's settings."""

from collections.abc import Iterable, Sequence

import asyncpg

from services.autopay.records import SettingsRow
from services.autopay.repository import SCHEMA
from services.common.contract import PortalSettings

SWITCHES = tuple(PortalSettings.model_fields)

# When the version a parked event (`p`) waits for is in the projection.
VERSION_ARRIVED = f"""EXISTS (
    SELECT 1 FROM {SCHEMA}.settings_versions s
    WHERE s.merchant_id = p.merchant_id AND s.version = p.settings_version)"""


class PostgresSettingsProjection:
    """The settings projection as one connection sees it."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def record(self, rows: Sequence[SettingsRow]) -> None:
        """Insert versions not yet known; a redelivered version changes nothing."""
        await self._connection.execute(
            f"""
            INSERT INTO {SCHEMA}.settings_versions
                (merchant_id, version, {", ".join(SWITCHES)}, event_id)
            SELECT * FROM unnest($1::text[], $2::int[], $3::bool[], $4::bool[], $5::bool[],
                                 $6::bool[], $7::text[])
            ON CONFLICT (merchant_id, version) DO NOTHING
            """,
            [row.merchant_id for row in rows],
            [row.version for row in rows],
            *([getattr(row.settings, name) for row in rows] for name in SWITCHES),
            [row.event_id for row in rows],
        )

    async def load_versions(
        self, wanted: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], PortalSettings]:
        """The `wanted` (merchant, version) pairs that the projection holds."""
        wanted = list(wanted)
        rows = await self._connection.fetch(
            f"""
            SELECT s.merchant_id, s.version, {", ".join(f"s.{name}" for name in SWITCHES)}
            FROM {SCHEMA}.settings_versions s
            JOIN unnest($1::text[], $2::int[]) AS w(merchant_id, version)
              ON s.merchant_id = w.merchant_id AND s.version = w.version
            """,
            [merchant for merchant, _ in wanted],
            [version for _, version in wanted],
        )
        return {(row["merchant_id"], row["version"]): _settings(row) for row in rows}

    async def latest_versions(
        self, merchants: Iterable[str]
    ) -> dict[str, tuple[int, PortalSettings]]:
        """Each merchant's latest projected version; merchants without settings are absent."""
        rows = await self._connection.fetch(
            f"""
            SELECT DISTINCT ON (merchant_id) merchant_id, version, {", ".join(SWITCHES)}
            FROM {SCHEMA}.settings_versions
            WHERE merchant_id = ANY($1::text[])
            ORDER BY merchant_id, version DESC
            """,
            list(merchants),
        )
        return {row["merchant_id"]: (row["version"], _settings(row)) for row in rows}


def _settings(row: asyncpg.Record) -> PortalSettings:
    return PortalSettings(**{name: row[name] for name in SWITCHES})
