"""FastStream wiring of a `BatchConsumer`: its subscription, parser and offset commits.

One batch is handled at a time, in a task of its own: while it waits on the database, the
consume loop fetches and decodes the next one, whose handling starts once this one is done
with. The offset is committed after `BatchConsumer.process` has returned, in the background
while the next batch is handled (`BackgroundCommits`). When anything escapes it, the batch's
partitions are rewound so that it is consumed again, after a back-off, and no commit covers
it (nor the batch fetched meanwhile, rewound too); FastStream alone would drop the batch and
commit past it with the next one. A graceful stop waits for the batch in hand (at most
`SHUTDOWN_GRACE_SECONDS`), commits it, and leaves the batch fetched meanwhile uncommitted.
When a dead letter is refused for good, the subscription stops, uncommitted, and the service
reports not ready until an operator has fixed the cause and restarted it. A record that the
Kafka client cannot unpack loses nothing else and is dead-lettered (`_guard_fetches`).
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError, KafkaError
from faststream import AckPolicy, NoCast
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber

from services.common import kafka_security, metrics
from services.common.config import Config
from services.common.consumer import BatchConsumer, DeadLetterRefused
from services.common.contract import event_type
from services.common.decoding import DecodedBatch, cloud_events_decoder, keep_header_bytes
from services.common.http import Check
from services.common.logs import describe_failure
from services.common.offsets import BackgroundCommits
from services.common.publishers import declare_dead_letters

log = logging.getLogger(__name__)


def consumer_broker(config: Config) -> KafkaBroker:
    """A broker for subscriptions only: no producer nor admin client of its own to open."""
    # Its log lines go through ours (JSON, redacted), not FastStream's own coloured handler.
    return KafkaBroker(
        config.kafka_bootstrap_list,
        consumer_only=True,
        # A stop waits this long for the batches in hand, then cancels them (uncommitted).
        graceful_timeout=config.shutdown_grace_seconds,
        logger=logging.getLogger("faststream"),
        security=kafka_security.broker_security(config),
    )


def subscribe_batches(
    broker: KafkaBroker,
    consumer: BatchConsumer,
    *,
    topic: str,
    group_id: str,
    max_records: int = 1000,
    session_timeout_ms: int | None = None,
    fetch_max_wait_ms: int = 500,
    fetch_min_bytes: int = 1,
    batch_timeout_ms: int = 10,
) -> Check:
    """Register `consumer` on `topic`: one handler call and one offset commit per batch.

    Returns the subscription's readiness check.

    `session_timeout_ms` (default: the client's) also bounds how long joining the group
    takes on the embedded broker, which waits about half of it before assigning partitions.
    `fetch_max_wait_ms` bounds the latency of an idle partition on the embedded broker, which
    holds a fetch for that long even when records arrive sooner; Apache Kafka holds it until
    `fetch_min_bytes` are there, or for `fetch_max_wait_ms`. FastStream sleeps
    `batch_timeout_ms` after an empty poll: short, for latency when idle.
    """
    group_timing = (
        {}
        if session_timeout_ms is None
        else {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": max(100, min(3000, session_timeout_ms // 3)),
        }
    )
    retry_delays = None
    commits = BackgroundCommits()
    stopping: set[asyncio.Task] = set()

    declare_dead_letters(broker, consumer.dead_letters.topic)
    subscriber = broker.subscriber(
        topic,
        group_id=group_id,
        title=f"{group_id}:on{event_type(consumer.model)}",
        description=f"CloudEvents of type {event_type(consumer.model)}, binary or structured "
        f"mode; invalid records go to {consumer.dead_letters.topic}.",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        # Our commits, not one of FastStream's ack policies: those commit a batch before it
        # is processed (ACK_FIRST) or past one that failed (ACK, REJECT_ON_ERROR), or replay
        # it at once for ever (NACK_ON_ERROR): records lost, or a partition stuck behind one
        # poison record. `BatchConsumer` dead-letters record by record; we commit after it.
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        parser=keep_header_bytes,
        decoder=cloud_events_decoder(consumer.model),
        fetch_max_wait_ms=fetch_max_wait_ms,
        fetch_min_bytes=fetch_min_bytes,
        **group_timing,
    )

    in_hand: tuple[asyncio.Task[bool], KafkaMessage] | None = None

    def halt(error: DeadLetterRefused, records: int) -> None:
        consumer.halted = f"stopped: the dead-letter topic refuses records ({error})"
        metrics.consumed(topic, "parked", records)
        log.critical("%s on %s: fix it, then restart the service", consumer.halted, topic)
        # Not awaited here: the stop waits for the batch in hand, maybe the caller.
        stop = asyncio.create_task(subscriber.stop())
        stopping.add(stop)
        stop.add_done_callback(stopping.discard)

    async def batch_in_hand_done() -> None:
        if in_hand is not None:
            await asyncio.wait([in_hand[0]])

    _guard_fetches(subscriber, consumer, max_records, halt, batch_in_hand_done)

    @subscriber
    async def on_batch(batch: NoCast[DecodedBatch], message: KafkaMessage) -> None:
        nonlocal in_hand
        if in_hand is not None:
            (previous, previous_message), in_hand = in_hand, None
            if not await previous:
                # It was rewound, and this batch was fetched past it (or is it, again): each
                # partition of both goes back to its earliest record in either.
                _rewind(previous_message, message)
                return
        if consumer.halted or not subscriber.running:
            # Fetched while the subscription stops: left uncommitted, to be consumed again.
            _rewind(message)
            return
        handling = asyncio.create_task(handle(batch, message))
        _hold_until_done(broker, subscriber, handling)
        in_hand = (handling, message)
        # Let it send its first queries before this loop decodes the next batch.
        await asyncio.sleep(0)

    async def handle(batch: DecodedBatch, message: KafkaMessage) -> bool:
        """Process the batch, then commit it; False when it was rewound instead."""
        nonlocal retry_delays
        try:
            await consumer.process(batch)
        except DeadLetterRefused as error:
            _rewind(message)
            halt(error, len(message.raw_message))
            return False
        except Exception as error:
            # Not done with, whatever it was: consume the batch again, after a pause, and
            # commit nothing past it meanwhile (FastStream would just drop it).
            retry_delays = retry_delays or consumer.backoff.delays()
            delay = next(retry_delays)
            log.error("batch failed, consumed again in %.1fs: %s", delay, describe_failure(error))
            _rewind(message)
            await asyncio.sleep(delay)
            return False
        retry_delays = None
        commits.add(message.consumer, message.raw_message)
        if not subscriber.running:
            # A graceful stop waits for this batch, then stops the consumer: commit first.
            await commits.flush()
        return True

    return consumer.ready


async def stop(broker: KafkaBroker) -> None:
    """FastStream's graceful stop, which waits for the batches in hand (at most the broker's
    `graceful_timeout`), then the cancellation of those it no longer waited for: nothing of
    theirs runs on over a stopped consumer and the resources closed after it, even when the
    broker's stop fails."""
    try:
        await broker.stop()
    finally:
        in_hand = _batches_in_hand.get(broker, ())
        left = [handling for handling in in_hand if not handling.done()]
        for handling in left:
            handling.cancel()
        await asyncio.gather(*left, return_exceptions=True)


# The batch in hand of each subscription, by broker, for `stop`.
_batches_in_hand: weakref.WeakKeyDictionary[KafkaBroker, set[asyncio.Task]] = (
    weakref.WeakKeyDictionary()
)


def _guard_fetches(
    subscriber: BatchSubscriber,
    consumer: BatchConsumer,
    max_records: int,
    halt: Callable[[DeadLetterRefused, int], None],
    batch_in_hand_done: Callable[[], Awaitable[None]],
) -> None:
    """Make a fetch that fails to unpack a record lose nothing, and dead-letter that record.

    aiokafka drains the fetched partitions one after the other into one batch, unpacking their
    records (it decodes header names as UTF-8, checks CRCs): when that fails, the records
    drained before are thrown away, their partitions' positions already past them. So every
    partition goes back to where it was before the fetch (never forward: the batch in hand
    may have rewound one meanwhile); then a Kafka error is left to FastStream (which fetches
    again after a pause), and any other failure is a record that cannot be unpacked at all,
    dead-lettered and skipped rather than failing every fetch.
    """
    fetch = subscriber.get_msg
    retry_delays = consumer.backoff.delays()

    async def get_msg(kafka: AIOKafkaConsumer) -> tuple:
        before = await _positions(kafka)
        try:
            return await fetch(kafka)
        except ConsumerStoppedError:
            raise
        except Exception as error:
            now = await _positions(kafka)
            _seek(kafka, {tp: at for tp, at in before.items() if now.get(tp, at) > at})
            if isinstance(error, KafkaError):
                raise
            # The batch in hand may rewind partitions: let it be done before looking.
            await batch_in_hand_done()
            try:
                if await _skip_unreadable(kafka, await _positions(kafka), consumer, max_records):
                    return ()
            except DeadLetterRefused as refused:
                halt(refused, 1)
                return ()
            # Not found partition by partition (not fetched in time?): look again, later.
            log.warning("a fetch failed, fetched again: %s", describe_failure(error))
            await asyncio.sleep(next(retry_delays))
            return ()

    # FastStream's consume loop calls `self.get_msg(consumer)`: this subscriber's, from now on.
    subscriber.get_msg = get_msg


async def _positions(kafka: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    positions = {}
    for partition in kafka.assignment():
        with contextlib.suppress(IllegalStateError):  # taken away meanwhile
            positions[partition] = await kafka.position(partition)
    return positions


def _seek(kafka: AIOKafkaConsumer, positions: dict[TopicPartition, int]) -> None:
    for partition, offset in positions.items():
        with contextlib.suppress(IllegalStateError):  # taken away meanwhile
            kafka.seek(partition, offset)


async def _skip_unreadable(
    kafka: AIOKafkaConsumer,
    positions: dict[TopicPartition, int],
    consumer: BatchConsumer,
    max_records: int,
) -> bool:
    """Find the record that cannot be unpacked, record by record, within the `max_records`
    after each partition's position; dead-letter it and seek past it. Every other partition
    is left at its position. False if none failed."""
    for partition, position in positions.items():
        if partition not in kafka.assignment():
            continue  # taken away meanwhile: its new owner starts from the last commit
        highwater = kafka.highwater(partition)
        if highwater is not None and highwater <= position:
            continue  # nothing there to fetch
        try:
            for _ in range(max_records):
                if not await kafka.getmany(partition, timeout_ms=1000, max_records=1):
                    break
        except (ConsumerStoppedError, KafkaError):
            _seek(kafka, {partition: position})
            raise
        except Exception as error:
            unreadable = await kafka.position(partition)
            await consumer.dead_letter_unreadable(partition, unreadable, error)
            kafka.seek(partition, unreadable + 1)
            return True
        kafka.seek(partition, position)
    return False


def _hold_until_done(
    broker: KafkaBroker, subscriber: BatchSubscriber, handling: asyncio.Task
) -> None:
    """Make a graceful stop wait for `handling` as for a handler call, and `stop` cancel it
    when that wait is over."""
    lock = subscriber.lock
    lock.acquire()
    in_hand = _batches_in_hand.setdefault(broker, set())
    in_hand.add(handling)

    def done(_: asyncio.Task) -> None:
        lock.release()
        in_hand.discard(handling)

    handling.add_done_callback(done)


def _rewind(*batches: KafkaMessage) -> None:
    """Seek each partition of the batches back to its earliest record among them."""
    earliest: dict[TopicPartition, int] = {}
    for batch in batches:
        for record in batch.raw_message:
            partition = TopicPartition(record.topic, record.partition)
            earliest[partition] = min(record.offset, earliest.get(partition, record.offset))
    for partition, offset in earliest.items():
        # A partition that a rebalance took away meanwhile is its new owner's to redeliver.
        with contextlib.suppress(IllegalStateError):
            batches[0].consumer.seek(partition, offset)
