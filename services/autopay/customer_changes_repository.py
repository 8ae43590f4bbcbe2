"""SQL of the customer changes: the unit of work `customer_changes.py` works through."""

import contextlib
from collections.abc import AsyncIterator, Collection, Sequence

import asyncpg

from services.autopay.change_outcomes import (
    Details,
    HistoryEntry,
    Profile,
    ProfileChange,
    ProfileKey,
    Request,
)
from services.autopay.changes import StoredState
from services.autopay.domain import AppliedSettings, applicable_settings
from services.autopay.projection import PostgresSettingsProjection
from services.autopay.repository import SCHEMA
from services.autopay.waiting_requests import WaitingRequests
from services.common import outbox
from services.common.contract import PaymentMethod, PortalSettings
from services.common.db import as_json
from services.common.envelope import CloudEvent
from services.common.parking import Customer


class PostgresChanges:
    def __init__(self, pool: asyncpg.Pool, waiting: WaitingRequests) -> None:
        self._pool = pool
        self._waiting = waiting

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator["_UnitOfWork"]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield _UnitOfWork(connection, self._waiting)

    async def seconds_to_next_bound(self) -> float | None:
        async with self._pool.acquire() as connection:
            return await self._waiting.seconds_to_next_bound(connection)

    async def history(
        self, key: ProfileKey, *, before: int | None, limit: int
    ) -> list[HistoryEntry]:
        rows = await self._pool.fetch(
            f"""
            SELECT id AS position, auto_process, decided_by, trigger, settings_version,
                   removed, caused_by, recorded_at
            FROM {SCHEMA}.profile_history
            WHERE merchant_id = $1 AND customer_id = $2 AND payment_method_id = $3
              AND ($4::bigint IS NULL OR id < $4)
            ORDER BY id DESC
            LIMIT $5
            """,
            *key,
            before,
            limit,
        )
        return [HistoryEntry(**row) for row in rows]


class _UnitOfWork:
    def __init__(self, connection: asyncpg.Connection, waiting: WaitingRequests) -> None:
        self._connection = connection
        self._waiting = waiting
        self._projection = PostgresSettingsProjection(connection)
        self._settings: dict[str, dict[int, PortalSettings]] = {}

    async def first_seen(self, event_ids: Sequence[str]) -> set[str]:
        rows = await self._connection.fetch(
            f"""
            INSERT INTO {SCHEMA}.processed_events (event_id)
            SELECT json_array_elements_text($1::json)
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
            """,
            as_json(event_ids),
        )
        return {row["event_id"] for row in rows}

    async def profiles_of(self, keys: Collection[ProfileKey]) -> dict[ProfileKey, Profile]:
        keys = list(keys)
        rows = await self._connection.fetch(
            f"""
            SELECT p.merchant_id, p.customer_id, p.payment_method_id, p.auto_process,
                   p.removed_at, p.source_time, p.settings_version, p.customer_name,
                   p.payment_method::text AS payment_method, p.channel
            FROM {SCHEMA}.payment_profiles p
            JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(m, c, pm)
              ON p.merchant_id = k.m AND p.customer_id = k.c AND p.payment_method_id = k.pm
            FOR UPDATE OF p
            """,
            *([key[i] for key in keys] for i in range(3)),
        )
        return {
            (row["merchant_id"], row["customer_id"], row["payment_method_id"]): _profile(row)
            for row in rows
        }

    async def settings_of(self, merchant_id: str, version: int | None) -> AppliedSettings:
        known = self._settings.setdefault(merchant_id, {})
        if version and version not in known:
            found = await self._projection.load_versions([(merchant_id, version)])
            known.update({v: settings for (_, v), settings in found.items()})
        if version is None or (version and version not in known):
            latest = await self._projection.latest_versions([merchant_id])
            known.update(dict(latest.values()))
        return applicable_settings(version, known)

    async def save(self, changes: Sequence[ProfileChange]) -> None:
        """One statement per change, in order: each leaves its own history row."""
        if not changes:
            return
        await self._connection.executemany(
            f"""
            INSERT INTO {SCHEMA}.payment_profiles
                (merchant_id, customer_id, payment_method_id, auto_process, decided_by,
                 trigger, settings_version, caused_by, source_time, removed_at,
                 settings_fallback, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
            ON CONFLICT (merchant_id, customer_id, payment_method_id) DO UPDATE SET
                auto_process = excluded.auto_process,
                decided_by = excluded.decided_by,
                trigger = excluded.trigger,
                settings_version = excluded.settings_version,
                caused_by = excluded.caused_by,
                source_time = excluded.source_time,
                removed_at = excluded.removed_at,
                box_ignored = false,
                settings_fallback = excluded.settings_fallback,
                updated_at = excluded.updated_at
            WHERE payment_profiles.source_time IS NULL OR excluded.source_time IS NULL
               OR excluded.source_time >= payment_profiles.source_time
            """,
            [
                (
                    *c.key,
                    c.auto_process,
                    c.decided_by,
                    c.trigger,
                    c.settings_version,
                    c.caused_by,
                    c.source_time,
                    c.removed_at,
                    c.settings_fallback,
                )
                for c in changes
            ],
        )

    async def append(self, events: Sequence[CloudEvent]) -> list:
        return await outbox.enqueue(self._connection, SCHEMA, events, notify=False)

    async def customers_waiting(self, customers: Collection[Customer]) -> set[Customer]:
        return await self._waiting.customers(self._connection, customers)

    async def park(self, requests: Sequence[tuple[Request, bool]]) -> None:
        await self._waiting.park(self._connection, requests)

    async def claim_waiting(self) -> list[Request]:
        return await self._waiting.take(self._connection)


def _profile(row: asyncpg.Record) -> Profile:
    state = StoredState(row["auto_process"], row["removed_at"] is not None, row["source_time"])
    details = None
    if row["customer_name"] is not None:
        card = PaymentMethod.model_validate_json(row["payment_method"])
        details = Details(row["customer_name"], card, row["channel"])
    return Profile(state, row["settings_version"], details)
