"""FastStream wiring of a `BatchConsumer`: its subscription, parser and offset commits.

The offset is committed after `BatchConsumer.process` has returned, in the background while
the next batch is handled (`BackgroundCommits`). When anything escapes it, the batch's
partitions are rewound so that it is consumed again, after a back-off, and no commit covers
it; FastStream alone would drop the batch and commit past it with the next one.
When a dead letter is refused for good, the subscription stops, uncommitted, and the service
reports not ready until an operator has fixed the cause and restarted it.
"""

import asyncio
import contextlib
import logging

from aiokafka.errors import IllegalStateError
from faststream import AckPolicy, NoCast
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

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

    @subscriber
    async def on_batch(batch: NoCast[DecodedBatch], message: KafkaMessage) -> None:
        nonlocal retry_delays
        if consumer.halted:  # a batch fetched while the subscription stops
            await _rewind(message)
            return
        try:
            await consumer.process(batch)
        except DeadLetterRefused as error:
            await _rewind(message)
            consumer.halted = f"stopped: the dead-letter topic refuses records ({error})"
            metrics.consumed(topic, "parked", len(message.raw_message))
            log.critical("%s on %s: fix it, then restart the service", consumer.halted, topic)
            # Not awaited here: stopping the subscriber ends the task that runs this handler.
            stop = asyncio.create_task(subscriber.stop())
            stopping.add(stop)
            stop.add_done_callback(stopping.discard)
            return
        except Exception as error:
            # Not done with, whatever it was: consume the batch again, after a pause, and
            # commit nothing past it meanwhile (FastStream would just drop it).
            retry_delays = retry_delays or consumer.backoff.delays()
            delay = next(retry_delays)
            log.error("batch failed, consumed again in %.1fs: %s", delay, describe_failure(error))
            await _rewind(message)
            await asyncio.sleep(delay)
            return
        retry_delays = None
        commits.add(message.consumer, message.raw_message)
        if not subscriber.running:
            # A graceful stop waits for this handler, then stops the consumer: commit first.
            await commits.flush()

    return consumer.ready


async def _rewind(message: KafkaMessage) -> None:
    """Seek each partition of the batch back to its first record."""
    # A partition that a rebalance took away meanwhile is its new owner's to redeliver.
    with contextlib.suppress(IllegalStateError):
        await message.nack()
