"""The transactional outbox: events committed with the state they describe, then relayed.

`enqueue` writes outgoing events in the caller's transaction. `OutboxRelay` publishes them in
id order and deletes them once the broker has acknowledged them. A crash between publish and
delete re-publishes the same records (same `ce_id`) on restart: at-least-once, with an id
consumers dedupe on. One merchant's or customer's events keep their order because the relay
that holds the schema's advisory lock is the only one publishing.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.contract import EVENT_TOPICS, ContractModel, record_key
from services.common.db import TRANSIENT_DB_ERRORS, advisory_lock_key
from services.common.envelope import CloudEvent, encode_binary

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _channel(schema: str) -> str:
    return f"{schema}_outbox"


async def enqueue(
    connection: asyncpg.Connection, schema: str, events: Iterable[CloudEvent[ContractModel]]
) -> None:
    """Record `events` for publication, in the caller's transaction, and wake the relay."""
    rows = []
    for event in events:
        headers, value = encode_binary(event)
        rows.append(
            (
                EVENT_TOPICS[type(event.data)],
                record_key(event.data),
                event.id,
                json.dumps([[name, raw.decode()] for name, raw in headers]),
                value,
            )
        )
    if not rows:
        return
    await connection.copy_records_to_table(
        "outbox",
        schema_name=schema,
        columns=["topic", "key", "event_id", "headers", "value"],
        records=rows,
    )
    await connection.execute("SELECT pg_notify($1, '')", _channel(schema))


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
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._producer = producer
        self._topic_name = topic_name
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._lock_key = advisory_lock_key(f"outbox:{schema}")

    async def run(self) -> None:
        """Relay until cancelled; failures are logged and retried, never fatal."""
        while True:
            try:
                async with self._listening() as listener:
                    await self._relay_while_listening(listener)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay for %s failed; retrying", self._schema)
                await asyncio.sleep(self._poll_interval)

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
                f'SELECT id, topic, key, headers, value FROM "{self._schema}".outbox'
                " ORDER BY id LIMIT $1",
                self._batch_size,
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
                f'DELETE FROM "{self._schema}".outbox WHERE id = ANY($1::bigint[])',
                [row["id"] for row in rows],
            )
        return len(rows)

    async def _relay_while_listening(self, listener: asyncpg.Connection) -> None:
        # A listener lost with its server (a restart) is replaced, or NOTIFYs would be missed.
        while not listener.is_closed():
            self._wake.clear()
            while await self._publish_pending_uninterrupted() == self._batch_size:
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

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

    @contextlib.asynccontextmanager
    async def _listening(self):
        """Hold a connection that LISTENs for the outbox channel while relaying."""
        channel = _channel(self._schema)
        try:
            connection = await self._pool.acquire()
        except TRANSIENT_DB_ERRORS:
            log.warning("outbox relay for %s: database unavailable", self._schema)
            raise
        try:
            await connection.add_listener(channel, self._on_notify)
            yield connection
        finally:
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await connection.remove_listener(channel, self._on_notify)
            await self._pool.release(connection)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
