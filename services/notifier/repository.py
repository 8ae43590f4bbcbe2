"""The notifier's SQL (schema `notifier`), nothing else. Callers own the transactions."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

SCHEMA = "notifier"
EMAILS_CHANNEL = "notifier_emails"

# When the settings version a parked choice (`p`) waits for is in the projection.
RECIPIENTS_ARRIVED = """EXISTS (
    SELECT 1 FROM notifier.recipients r
    WHERE r.merchant_id = p.merchant_id AND r.version >= p.settings_version)"""


@dataclass(frozen=True, slots=True)
class Recipients:
    version: int
    emails: list[str]
    locale: str


@dataclass(frozen=True, slots=True)
class ChoiceRow:
    event_id: str
    merchant_id: str
    outcome: str
    settings_version: int
    recipients_version: int


@dataclass(frozen=True, slots=True)
class EmailRow:
    event_id: str
    recipient: str
    template: str
    locale: str
    facts: dict


async def save_recipients(
    connection: asyncpg.Connection, rows: Sequence[tuple[str, int, list[str], str]]
) -> None:
    """Upsert (merchant_id, version, emails, locale); an older version never wins.

    At most one row per merchant per call (PostgreSQL refuses to update a row twice).
    """
    if not rows:
        return
    merchants, versions, emails, locales = zip(*rows, strict=True)
    await connection.execute(
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
        list(merchants),
        list(versions),
        [json.dumps(addresses) for addresses in emails],
        list(locales),
    )


async def recipients_of(
    connection: asyncpg.Connection | asyncpg.Pool, merchant_ids: Iterable[str]
) -> dict[str, Recipients]:
    rows = await connection.fetch(
        "SELECT merchant_id, version, emails, locale FROM notifier.recipients"
        " WHERE merchant_id = ANY($1::text[])",
        list(set(merchant_ids)),
    )
    return {
        row["merchant_id"]: Recipients(row["version"], list(row["emails"]), row["locale"])
        for row in rows
    }


async def recorded_among(connection: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
    rows = await connection.fetch(
        "SELECT event_id FROM notifier.choices WHERE event_id = ANY($1::text[])", list(event_ids)
    )
    return {row["event_id"] for row in rows}


async def record_choices(connection: asyncpg.Connection, rows: Sequence[ChoiceRow]) -> set[str]:
    """Insert the choices not seen before; return the event ids that were new."""
    inserted = await connection.fetch(
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


async def add_emails(connection: asyncpg.Connection, rows: Sequence[EmailRow]) -> None:
    """Queue emails for the sender and wake it (the NOTIFY is delivered at commit)."""
    if not rows:
        return
    await connection.execute(
        """
        INSERT INTO notifier.emails (event_id, recipient, template, locale, facts)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])
        ON CONFLICT (event_id, recipient) DO NOTHING
        """,
        [row.event_id for row in rows],
        [row.recipient for row in rows],
        [row.template for row in rows],
        [row.locale for row in rows],
        [json.dumps(row.facts) for row in rows],
    )
    await connection.execute("SELECT pg_notify($1, '')", EMAILS_CHANNEL)


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
