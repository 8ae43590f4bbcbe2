"""The SQL of the email queue (`notifier.emails`) on the sending side. Callers own the rest.

A sender claims emails under a key that its session holds as an advisory lock: the claim
lasts exactly as long as that session, so the emails of a sender that died (its connection
gone) are due again at once, while a live sender's are skipped by the others.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.db import advisory_lock_key
from services.notifier.repository import EMAILS_CHANNEL

# The first half of every sender's advisory-lock key; the second is the sender's own.
SENDERS = advisory_lock_key("notifier.senders") & 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    event_id: str
    recipient: str
    template: str
    locale: str
    facts: dict
    attempts: int
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one attempt: `sent`, `pending` (retry at `retry_at`) or `failed`."""

    event_id: str
    recipient: str
    status: str
    error: str | None = None
    retry_at: datetime | None = None


async def hold_sender_key(connection: asyncpg.Connection, key: int) -> bool:
    """Take the advisory lock of sender `key` for this session; False if another has it."""
    return await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", SENDERS, key)


async def claim_due(pool: asyncpg.Pool, sender: int, limit: int) -> list[QueuedEmail]:
    """Claim up to `limit` due emails for `sender`: those no live sender has claimed."""
    rows = await pool.fetch(
        """
        WITH live AS (
            SELECT objid::bigint AS sender FROM pg_locks
            WHERE locktype = 'advisory' AND classid = $3 AND objsubid = 2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        ),
        due AS (
            SELECT event_id, recipient FROM notifier.emails
            WHERE status = 'pending' AND next_attempt_at <= now()
              AND (claimed_by IS NULL OR claimed_by NOT IN (SELECT sender FROM live))
            ORDER BY next_attempt_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE notifier.emails AS e SET claimed_by = $2
        FROM due WHERE e.event_id = due.event_id AND e.recipient = due.recipient
        RETURNING e.event_id, e.recipient, e.template, e.locale, e.facts, e.attempts,
                  e.queued_at
        """,
        limit,
        sender,
        SENDERS,
    )
    return [QueuedEmail(**(dict(row) | {"facts": json.loads(row["facts"])})) for row in rows]


async def record_outcomes(pool: asyncpg.Pool, outcomes: Sequence[Outcome]) -> None:
    """Record attempts (one statement, one transaction) and release their claims."""
    await pool.execute(
        """
        UPDATE notifier.emails AS e
        SET status = o.status,
            attempts = e.attempts + 1,
            sent_at = CASE WHEN o.status = 'sent' THEN now() END,
            next_attempt_at = coalesce(o.retry_at, e.next_attempt_at),
            last_error = o.error,
            claimed_by = NULL
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            AS o (event_id, recipient, status, error, retry_at)
        WHERE e.event_id = o.event_id AND e.recipient = o.recipient
        """,
        [outcome.event_id for outcome in outcomes],
        [outcome.recipient for outcome in outcomes],
        [outcome.status for outcome in outcomes],
        [outcome.error and outcome.error[:2000] for outcome in outcomes],
        [outcome.retry_at for outcome in outcomes],
    )


@dataclass(frozen=True, slots=True)
class FailedEmail:
    event_id: str
    recipient: str
    attempts: int
    queued_at: datetime
    last_error: str | None


async def failed_emails(connection: asyncpg.Connection | asyncpg.Pool) -> list[FailedEmail]:
    rows = await connection.fetch(
        """
        SELECT event_id, recipient, attempts, queued_at, last_error FROM notifier.emails
        WHERE status = 'failed'
        ORDER BY queued_at, event_id, recipient
        """
    )
    return [FailedEmail(**row) for row in rows]


async def requeue_failed(connection: asyncpg.Connection, event_ids: list[str] | None) -> int:
    """Make failed emails (of `event_ids`, or all) pending again, from a new start."""
    status = await connection.execute(
        """
        UPDATE notifier.emails
        SET status = 'pending', attempts = 0, queued_at = now(), next_attempt_at = now()
        WHERE status = 'failed' AND ($1::text[] IS NULL OR event_id = ANY($1::text[]))
        """,
        event_ids,
    )
    await connection.execute("SELECT pg_notify($1, '')", EMAILS_CHANNEL)
    return int(status.rpartition(" ")[2])
