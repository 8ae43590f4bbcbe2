"""The safety net: publishes a schema's pending outbox rows in id order, whoever wrote them."""

import asyncio
import contextlib
import json
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.db import advisory_lock_key
from services.common.outbox.records import channel
from services.common.wakeups import Listen, WakeUpLoop

# Locks the oldest rows that nobody else holds (a publisher's rows in flight are skipped), and
# keeps those with no older pending row of their key outside the ones locked here. `OFFSET 0`:
# a lookup per row through `outbox_by_key`, whatever the statistics say (see the publisher's
# claim).
_RELAY_CLAIM = """
    WITH locked AS (
        SELECT id, topic, key, event_id, headers, value FROM "{schema}".outbox
        WHERE created_at <= now() - make_interval(secs => $2)
        ORDER BY id LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    SELECT * FROM locked
    WHERE NOT EXISTS (
        SELECT FROM "{schema}".outbox AS older
        WHERE older.key = locked.key AND older.id < locked.id
          -- Implied, but it lets PostgreSQL read only the head of the outbox.
          AND older.id < (SELECT max(id) FROM locked)
          AND older.id NOT IN (SELECT id FROM locked)
        OFFSET 0)
    ORDER BY id
"""
# By `event_id`, which only its unique index answers: by `id`, a plan made for an empty
# outbox read `outbox_by_key` whole.
_RELAY_DELETE = 'DELETE FROM "{schema}".outbox WHERE event_id = ANY($1::text[])'


class OutboxRelay:
    """Publishes a schema's outbox rows, woken by NOTIFY, with a poll as a safety net."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        producer: AIOKafkaProducer,
        topic_name: Callable[[str], str],
        *,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        min_age: float = 0.0,
    ) -> None:
        """`min_age` (seconds): leave younger rows alone, for a writer that publishes its own
        rows right after its commit (`publish_committed`); the relay is then the safety net
        for rows whose publisher failed or crashed. (The claim, not this delay, keeps the two
        from publishing a row twice: the delay only spares the relay work the publisher is
        about to do.)"""
        self._pool = pool
        self._schema = schema
        self._producer = producer
        self._topic_name = topic_name
        self._batch_size = batch_size
        self._min_age = min_age
        self._lock_key = advisory_lock_key(f"outbox:{schema}")
        self._loop = WakeUpLoop(
            f"outbox relay for {schema}",
            listen=Listen(pool, channel(schema)),
            poll_interval=poll_interval,
        )

    async def run(self) -> None:
        """Relay until cancelled; failures are logged and retried, never fatal."""
        await self._loop.run(self._publish_next_batch)

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; return how many were published.

        Returns 0 without publishing when another relay holds the lock: it will publish them.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            if not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", self._lock_key
            ):
                return 0
            rows = await connection.fetch(
                _RELAY_CLAIM.format(schema=self._schema), self._batch_size, self._min_age
            )
            if not rows:
                return 0
            deliveries = [
                await self._producer.send(
                    self._topic_name(row["topic"]),
                    key=row["key"].encode(),
                    value=row["value"],
                    headers=[(name, raw.encode()) for name, raw in json.loads(row["headers"])],
                )
                for row in rows
            ]
            await asyncio.gather(*deliveries)
            await connection.execute(
                _RELAY_DELETE.format(schema=self._schema), [row["event_id"] for row in rows]
            )
        return len(rows)

    async def _publish_next_batch(self) -> float | None:
        return 0 if await self._publish_pending_uninterrupted() == self._batch_size else None

    async def _publish_pending_uninterrupted(self) -> int:
        """`publish_pending`, finished even when the relay is cancelled (a graceful stop).

        Cancelled between the broker's acknowledgement and the DELETE, a batch would be
        published again by the next relay: same ids, but needless duplicates.
        """
        batch = asyncio.ensure_future(self.publish_pending())
        try:
            return await asyncio.shield(batch)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await batch
            raise
