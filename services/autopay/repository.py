"""SQL of the autopay schema: set-based, one statement per batch and table."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.contract import PortalSettings

SCHEMA = "autopay"

SWITCHES = tuple(PortalSettings.model_fields)


@dataclass(frozen=True, slots=True)
class SettingsRow:
    merchant_id: str
    version: int
    settings: PortalSettings
    event_id: str


@dataclass(frozen=True, slots=True)
class ProfileRow:
    merchant_id: str
    customer_id: str
    payment_method_id: str
    auto_process: bool
    decided_by: str
    settings_version: int
    caused_by: str
    box_ignored: bool
    settings_fallback: bool


@dataclass(frozen=True, slots=True)
class StoredProfile:
    payment_method_id: str
    auto_process: bool
    decided_by: str
    settings_version: int
    caused_by: str
    box_ignored: bool
    settings_fallback: bool
    updated_at: datetime


async def record_settings(connection: asyncpg.Connection, rows: Sequence[SettingsRow]) -> int:
    """Insert versions not yet known; a redelivered version changes nothing."""
    result = await connection.execute(
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
    return int(result.rsplit(" ", 1)[1])


async def missing_versions(
    connection: asyncpg.Connection, wanted: Iterable[tuple[str, int]]
) -> set[tuple[str, int]]:
    wanted = list(wanted)
    rows = await connection.fetch(
        f"""
        SELECT w.merchant_id, w.version
        FROM unnest($1::text[], $2::int[]) AS w(merchant_id, version)
        WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.settings_versions s
                          WHERE s.merchant_id = w.merchant_id AND s.version = w.version)
        """,
        [merchant for merchant, _ in wanted],
        [version for _, version in wanted],
    )
    return {(row["merchant_id"], row["version"]) for row in rows}


async def load_settings(
    connection: asyncpg.Connection, merchants: Iterable[str], wanted: Iterable[tuple[str, int]]
) -> dict[str, dict[int, PortalSettings]]:
    """The `wanted` versions that exist plus the latest version of each merchant."""
    wanted = list(wanted)
    columns = ", ".join(f"s.{name}" for name in SWITCHES)
    rows = await connection.fetch(
        f"""
        (SELECT s.merchant_id, s.version, {columns}
         FROM {SCHEMA}.settings_versions s
         JOIN unnest($1::text[], $2::int[]) AS w(merchant_id, version)
           ON s.merchant_id = w.merchant_id AND s.version = w.version)
        UNION
        (SELECT DISTINCT ON (s.merchant_id) s.merchant_id, s.version, {columns}
         FROM {SCHEMA}.settings_versions s
         WHERE s.merchant_id = ANY($3::text[])
         ORDER BY s.merchant_id, s.version DESC)
        """,
        [merchant for merchant, _ in wanted],
        [version for _, version in wanted],
        list(merchants),
    )
    known: dict[str, dict[int, PortalSettings]] = {}
    for row in rows:
        settings = PortalSettings(**{name: row[name] for name in SWITCHES})
        known.setdefault(row["merchant_id"], {})[row["version"]] = settings
    return known


async def already_processed(connection: asyncpg.Connection, event_ids: list[str]) -> set[str]:
    rows = await connection.fetch(
        f"SELECT event_id FROM {SCHEMA}.processed_events WHERE event_id = ANY($1::text[])",
        event_ids,
    )
    return {row["event_id"] for row in rows}


async def mark_processed(connection: asyncpg.Connection, event_ids: list[str]) -> set[str]:
    """Record the ids; return those seen for the first time (the others are redeliveries)."""
    rows = await connection.fetch(
        f"""
        INSERT INTO {SCHEMA}.processed_events (event_id)
        SELECT unnest($1::text[])
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
        """,
        event_ids,
    )
    return {row["event_id"] for row in rows}


async def save_profiles(connection: asyncpg.Connection, profiles: Sequence[ProfileRow]) -> None:
    """Upsert profiles; each key must appear once (the caller keeps the last decision)."""
    if not profiles:
        return
    await connection.execute(
        f"""
        INSERT INTO {SCHEMA}.payment_profiles
            (merchant_id, customer_id, payment_method_id, auto_process, decided_by,
             settings_version, caused_by, box_ignored, settings_fallback, updated_at)
        SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[],
                                    $5::text[], $6::int[], $7::text[], $8::bool[], $9::bool[])
        ON CONFLICT (merchant_id, customer_id, payment_method_id) DO UPDATE SET
            auto_process = excluded.auto_process,
            decided_by = excluded.decided_by,
            settings_version = excluded.settings_version,
            caused_by = excluded.caused_by,
            box_ignored = excluded.box_ignored,
            settings_fallback = excluded.settings_fallback,
            updated_at = excluded.updated_at
        """,
        *(
            [getattr(profile, field) for profile in profiles]
            for field in ProfileRow.__dataclass_fields__
        ),
    )


async def profiles_of(
    connection: asyncpg.Connection, merchant_id: str, customer_id: str
) -> list[StoredProfile]:
    rows = await connection.fetch(
        f"""
        SELECT payment_method_id, auto_process, decided_by, settings_version, caused_by,
               box_ignored, settings_fallback, updated_at
        FROM {SCHEMA}.payment_profiles
        WHERE merchant_id = $1 AND customer_id = $2
        ORDER BY updated_at, payment_method_id
        """,
        merchant_id,
        customer_id,
    )
    return [StoredProfile(**row) for row in rows]
