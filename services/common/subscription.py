"""FastStream wiring of a `BatchConsumer`: its subscription, parser and offset commits.

The offset is committed after `BatchConsumer.process` has returned. When anything escapes it,
the batch's partitions are rewound so that it is consumed again, after a back-off, and no
commit covers it; FastStream alone would drop the batch and commit past it with the next one.
When a dead letter is refused for good, the subscription stops, uncommitted, and the service
reports not ready until an operator has fixed the cause and restarted it.
"""

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord
from aiokafka.errors import IllegalStateError, KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common import kafka_security, metrics
from services.common.config import Config
from services.common.consumer import BatchConsumer, DeadLetterRefused
from services.common.http import Check
from services.common.logs import describe_failure

log = logging.getLogger(__name__)


async def _keep_header_bytes(
    records: tuple[ConsumerRecord, ...], parse_batch: Callable[..., Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream's batch parser, minus its decoding of every header value as UTF-8.

    One record with a header we never read that is not UTF-8 would fail the whole batch
    there, before our code runs: its records would be neither processed nor dead-lettered,
    and the next batch's commit would cover them. FastStream builds its message (the consumer
    to commit with, the batch's id from its first and last records) from header-less copies
    of the first and last records only: copying them all would cost more than the decoding.
    The handler gets the records themselves, header bytes and all (`decode` reads them);
    nothing reads FastStream's body (see `_leave_undecoded`).
    """
    ends = (records[0], records[-1])  # never empty: FastStream skips empty polls
    message = await parse_batch(tuple(dataclasses.replace(r, headers=()) for r in ends))
    message.raw_message = records
    return message


async def _leave_undecoded(message: object) -> None:
    """Skip FastStream's own body decoding: `BatchConsumer` decodes every record itself.

    FastStream would parse each `application/json` value before the handler runs, and one
    record that is not JSON would fail the whole batch outside the handler, unacknowledged
    and never dead-lettered, while later batches commit past it.
    """
    return None


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
    batch_timeout_ms: int = 10,
) -> Check:
    """Register `consumer` on `topic`: one handler call and one offset commit per batch.

    Returns the subscription's readiness check.

    `session_timeout_ms` (default: the client's) also bounds how long joining the group
    takes on the embedded broker, which waits about half of it before assigning partitions.
    `fetch_max_wait_ms` bounds the latency of an idle partition on the embedded broker, which
    holds a fetch for that long even when records arrive sooner. FastStream sleeps
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
    stopping: set[asyncio.Task] = set()

    subscriber = broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        parser=_keep_header_bytes,
        decoder=_leave_undecoded,
        fetch_max_wait_ms=fetch_max_wait_ms,
        **group_timing,
    )

    @subscriber
    async def on_batch(message: KafkaMessage) -> None:
        nonlocal retry_delays
        if consumer.halted:  # a batch fetched while the subscription stops
            await _rewind(message)
            return
        try:
            await consumer.process(message.raw_message)
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
        try:
            await message.ack()
        except KafkaError as error:
            # Typically a rebalance took the partitions away: their new owner gets the batch
            # again and the handler's dedupe makes the replay change nothing.
            log.warning("offset commit failed, the batch will be redelivered: %s", error)

    return consumer.ready


async def _rewind(message: KafkaMessage) -> None:
    """Seek each partition of the batch back to its first record."""
    # A partition that a rebalance took away meanwhile is its new owner's to redeliver.
    with contextlib.suppress(IllegalStateError):
        await message.nack()
