"""The transactional outbox: events committed with the state they describe, then relayed.

`enqueue` writes outgoing events in the caller's transaction. A writer may publish its own
rows right after its commit (`CommittedPublisher`); `OutboxRelay` publishes the rest, in id
order. Either one *claims* a row before sending it: it deletes (or locks) the row in a
transaction that commits only once the broker has acknowledged it, so a row is published by
one of them at a time, and never again once gone. A row is claimed only when no older row of
its key is still pending, so one merchant's or customer's events keep their order whoever
publishes them. A crash between the broker's acknowledgement and the commit re-publishes the
same records (same `ce_id`) later: at-least-once, with an id consumers dedupe on.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from services.common import outage
from services.common.contract import EVENT_TOPICS, ContractModel, record_key
from services.common.db import TRANSIENT_DB_ERRORS, advisory_lock_key, as_json
from services.common.envelope import CloudEvent, Headers, encode_binary

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _channel(schema: str) -> str:
    return f"{schema}_outbox"


@dataclass(slots=True)  # not frozen: one per event, built four times faster
class OutboxRecord:
    """An event as the outbox stores it: ready to be sent as it is."""

    topic: str
    key: str
    event_id: str
    headers: Headers
    value: bytes


def encode(events: Iterable[CloudEvent[ContractModel]]) -> list[OutboxRecord]:
    """The outbox records of `events`, as `enqueue` stores them."""
    records = []
    for event in events:
        headers, value = encode_binary(event)
        records.append(
            OutboxRecord(
                EVENT_TOPICS[type(event.data)], record_key(event.data), event.id, headers, value
            )
        )
    return records


def stored_headers(record: OutboxRecord) -> str:
    """The `headers` column of a record (JSON: a list of [name, value] pairs)."""
    return as_json([[name, raw.decode()] for name, raw in record.headers])


async def enqueue(
    connection: asyncpg.Connection,
    schema: str,
    events: Iterable[CloudEvent[ContractModel]],
    *,
    notify: bool = True,
) -> list[OutboxRecord]:
    """Record `events` for publication, in the caller's transaction, and wake the relay.

    Returns the records written, for a caller that publishes them itself once committed
    (`publish_committed`); such a caller passes `notify=False`, leaving the relay asleep.
    """
    records = encode(events)
    if not records:
        return records
    # One round trip: COPY would first ask for the table's column types, on every call.
    await connection.execute(
        f"""
        WITH inserted AS (
            INSERT INTO "{schema}".outbox (topic, key, event_id, headers, value)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::bytea[])
            RETURNING 1
        )
        SELECT CASE WHEN $6 THEN pg_notify($7, '') END
        FROM (SELECT count(*) FROM inserted) AS done
        """,
        [record.topic for record in records],
        [record.key for record in records],
        [record.event_id for record in records],
        [stored_headers(record) for record in records],
        [record.value for record in records],
        notify,
        _channel(schema),
    )
    return records


async def publish_committed(
    pool: asyncpg.Pool,
    schema: str,
    producer: AIOKafkaProducer,
    topic_name: Callable[[str], str],
    records: Sequence[OutboxRecord],
) -> None:
    """Publish records whose transaction has committed: the fast path, no second read.

    Only the records it can claim: not those the relay holds or has already published, nor
    those with an older pending row of their key (a publish that failed, a crashed
    instance's rows): those are left to the relay, which publishes in id order. When the
    publish fails, the claim is rolled back and the relay publishes the rows later.
    """
    async with pool.acquire() as connection, connection.transaction():
        claimed = {
            row["event_id"]
            for row in await connection.fetch(
                _CLAIM.format(schema=schema), [record.event_id for record in records]
            )
        }
        mine = [record for record in records if record.event_id in claimed]
        await asyncio.gather(*await _send_in_batches(producer, topic_name, mine))


# Deleted rows stay locked until the commit, which follows the broker's acknowledgement. A row
# the relay holds is skipped, not waited for (waiting paced a lagging publisher at the relay's
# speed); a later row of its key then stays too, since only rows locked here are not "older".
_CLAIM = """
    WITH locked AS (
        SELECT id, key FROM "{schema}".outbox
        WHERE event_id = ANY($1::text[])
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM "{schema}".outbox AS claimed
    USING locked
    WHERE claimed.id = locked.id
      AND NOT EXISTS (
          SELECT FROM "{schema}".outbox AS older
          WHERE older.key = locked.key AND older.id < locked.id
            AND older.id NOT IN (SELECT id FROM locked))
    RETURNING claimed.event_id
"""


async def _send_in_batches(
    producer: AIOKafkaProducer,
    topic_name: Callable[[str], str],
    records: Sequence[OutboxRecord],
) -> list[asyncio.Future]:
    """Send records as one record batch per partition: half the CPU of a `send` per record.

    Partitions are chosen by the producer's own partitioner, so a key lands where `send`
    (the relay) would put it, and one key's records keep their order.
    """
    partitioner = DefaultPartitioner()
    partitions: dict[str, list[int]] = {}
    open_batches: dict[tuple[str, int], BatchBuilder] = {}
    deliveries = []
    for record in records:
        topic = topic_name(record.topic)
        if topic not in partitions:
            partitions[topic] = sorted(await producer.partitions_for(topic))
        key = record.key.encode()
        partition = partitioner(key, partitions[topic], partitions[topic])
        batch = open_batches.get((topic, partition))
        appended = dict(key=key, value=record.value, timestamp=None, headers=record.headers)
        if batch is not None and batch.append(**appended) is not None:
            continue
        if batch is not None:  # full: send it, start the next one
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
        batch = open_batches[topic, partition] = producer.create_batch()
        batch.append(**appended)
    for (topic, partition), batch in open_batches.items():
        deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    return deliveries


class CommittedPublisher:
    """Publishes committed outbox records in the background, in submission order.

    A writer's consumer hands its records over and goes on with its next batch while these
    are sent, acknowledged and deleted. Records not published (a failure, a crash, a stop
    before `drain`) stay in the outbox for an `OutboxRelay` with a `min_age`: same ids.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        producer: AIOKafkaProducer,
        topic_name: Callable[[str], str],
        *,
        max_pending: int = 4,
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._producer = producer
        self._topic_name = topic_name
        # Bounded: a slow broker slows the consumer down instead of filling the memory.
        self._queue: asyncio.Queue[Sequence[OutboxRecord]] = asyncio.Queue(max_pending)

    async def submit(self, records: Sequence[OutboxRecord]) -> None:
        """Queue records whose transaction has committed."""
        if records:
            await self._queue.put(records)

    async def run(self) -> None:
        """Publish until cancelled; what is queued at once goes out as one batch."""
        while True:
            batches = [await self._queue.get()]
            while not self._queue.empty():
                batches.append(self._queue.get_nowait())
            try:
                await publish_committed(
                    self._pool,
                    self._schema,
                    self._producer,
                    self._topic_name,
                    [record for batch in batches for record in batch],
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("publishing after commit failed, left to the relay: %r", error)
            finally:
                for _ in batches:
                    self._queue.task_done()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until everything submitted has been handled: a graceful stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)


# Locks the oldest rows that nobody else holds (a publisher's rows in flight are skipped), and
# keeps those with no older pending row of their key outside the ones locked here.
_RELAY_CLAIM = """
    WITH locked AS (
        SELECT id, topic, key, headers, value FROM "{schema}".outbox
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
          AND older.id NOT IN (SELECT id FROM locked))
    ORDER BY id
"""


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
        self._poll_interval = poll_interval
        self._min_age = min_age
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
            except Exception as error:
                if not outage.report(error):
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
            outage.of("postgres").succeeded()
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
        connection = await self._pool.acquire()
        try:
            await connection.add_listener(channel, self._on_notify)
            yield connection
        finally:
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await connection.remove_listener(channel, self._on_notify)
            await self._pool.release(connection)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
