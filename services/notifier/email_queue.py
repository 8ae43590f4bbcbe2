"""The SQL of the email queue (`notifier.emails`): emails queued with their choice, claimed
by a sender, their attempts recorded. A second SQL module beside `repository.py` because the
queue has its own protocol of claims, and the two together would be one long file.

A sender claims emails under a key that its session holds as an advisory lock: the claim
lasts exactly as long as that session, so the emails of a sender that died (its connection
gone) are due again at once, while a live sender's are skipped by the others.
"""

import json
from collections.abc import Sequence

import asyncpg

from services.common.db import advisory_lock_key
from services.notifier.service import EmailRow, FailedEmail, Outcome, QueuedEmail

# Queued emails are announced here (delivered at commit): the senders LISTEN.
EMAILS_CHANNEL = "notifier_emails"
# The first half of every sender's advisory-lock key; the second is the sender's own.
SENDERS = advisory_lock_key("notifier.senders") & 0x7FFFFFFF


async def hold_sender_key(connection: asyncpg.Connection, key: int) -> bool:
    """Take the advisory lock of sender `key` for this session; False if another has it."""
    return await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", SENDERS, key)


class PostgresEmailQueue:
    """`EmailQueue` over one connection."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def add(self, rows: Sequence[EmailRow]) -> None:
        if not rows:
            return
        await self._connection.execute(
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
        await self._connection.execute("SELECT pg_notify($1, '')", EMAILS_CHANNEL)

    async def claim_due(self, sender: int, limit: int) -> list[QueuedEmail]:
        rows = await self._connection.fetch(
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

    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        # One statement: the outcomes that ended together are written at once.
        await self._connection.execute(
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

    async def failed(self) -> list[FailedEmail]:
        rows = await self._connection.fetch(
            """
            SELECT event_id, recipient, attempts, queued_at, last_error FROM notifier.emails
            WHERE status = 'failed'
            ORDER BY queued_at, event_id, recipient
            """
        )
        return [FailedEmail(**row) for row in rows]

    async def requeue_failed(self, event_ids: Sequence[str] | None) -> int:
        status = await self._connection.execute(
            """
            UPDATE notifier.emails
            SET status = 'pending', attempts = 0, queued_at = now(), next_attempt_at = now()
            WHERE status = 'failed' AND ($1::text[] IS NULL OR event_id = ANY($1::text[]))
            """,
            None if event_ids is None else list(event_ids),
        )
        await self._connection.execute("SELECT pg_notify($1, '')", EMAILS_CHANNEL)
        return int(status.rpartition(" ")[2])
