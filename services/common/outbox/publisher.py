"""The fast path: a writer publishes its own outbox rows right after its commit."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from services.common.outbox.records import OutboxRecord

log = logging.getLogger(__name__)


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
# Written so that every read goes through an index by its own condition, whatever the
# statistics say: the outbox is a queue, often analyzed while empty, and a plan made for an
# empty table read the whole outbox for each row claimed (test_outbox_plans.py). `OFFSET 0`
# keeps the NOT EXISTS a lookup per row instead of a join planned from those statistics; the
# rows are deleted by `event_id`, which only its unique index answers.
_CLAIM = """
    WITH locked AS (
        SELECT id, key, event_id FROM "{schema}".outbox
        WHERE event_id = ANY($1::text[])
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM "{schema}".outbox AS claimed
    WHERE claimed.event_id = ANY(ARRAY(
        SELECT event_id FROM locked
        WHERE NOT EXISTS (
            SELECT FROM "{schema}".outbox AS older
            WHERE older.key = locked.key AND older.id < locked.id
              AND older.id NOT IN (SELECT id FROM locked)
            OFFSET 0)))
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
