"""Batch consumption with the offset commit in our hands.

A batch of records becomes one call of a service's batch handler. The offset is committed
only after that call has returned, i.e. after the database has committed: a crash, a
rebalance or a shutdown in between redelivers the batch, and the handler's dedupe absorbs it.
Nothing that cannot be processed blocks a partition for ever, and nothing is lost:
- an invalid record (not JSON, not a CloudEvent, wrong type, bad fields) is dead-lettered;
- a transient failure (the broker unreachable, any database error that is not about the
  values written: see `db.is_transient`) is retried with back-off, and nothing is
  dead-lettered;
- any other failure of a batch is narrowed down by handling its events one at a time, and the
  event that still fails is dead-lettered with the error;
- an exception that escapes all this rewinds the batch's partitions, so that it is consumed
  again and no commit covers it.
Log lines and dead letters describe failures without the values involved (`describe_failure`).
"""

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from aiokafka import ConsumerRecord
from aiokafka.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common import db
from services.common.config import Config
from services.common.envelope import CloudEvent, D, InvalidEvent, decode
from services.common.kafka import DeadLetters
from services.common.logs import describe_failure

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised by a handler when the same work, retried later, can succeed."""


def is_transient(error: BaseException) -> bool:
    """Whether the same work, retried later, can succeed."""
    broker_unavailable = (KafkaConnectionError, KafkaTimeoutError, RetryLater)
    return isinstance(error, broker_unavailable) or db.is_transient(error)


BatchHandler = Callable[[Sequence[CloudEvent[D]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.1
    factor: float = 2.0
    longest: float = 5.0

    def delays(self):
        delay = self.first
        while True:
            # Jittered, so that instances hit by the same outage do not all retry at once.
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * self.factor, self.longest)


class BatchConsumer(Generic[D]):
    """Decode a batch, dead-letter what is invalid, hand the rest to `handler`."""

    def __init__(
        self,
        model: type[D],
        handler: BatchHandler[D],
        dead_letters: DeadLetters,
        backoff: Backoff = Backoff(),
    ) -> None:
        self._model = model
        self._handler = handler
        self._dead_letters = dead_letters
        self.backoff = backoff

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        valid: list[tuple[ConsumerRecord, CloudEvent[D]]] = []
        for record in records:
            try:
                valid.append((record, decode(record.headers or (), record.value, self._model)))
            except InvalidEvent as error:
                await self._dead_letter(record, f"invalid event: {error}")
        if valid:
            await self._handle(valid)

    async def _handle(self, items: list[tuple[ConsumerRecord, CloudEvent[D]]]) -> None:
        for delay in self.backoff.delays():
            try:
                await self._handler([event for _, event in items])
                return
            except Exception as error:
                if not is_transient(error):
                    await self._narrow_down(items, error)
                    return
                log.warning(
                    "transient failure, retrying in %.1fs: %s", delay, describe_failure(error)
                )
                await asyncio.sleep(delay)

    async def _narrow_down(
        self, items: list[tuple[ConsumerRecord, CloudEvent[D]]], error: Exception
    ) -> None:
        """Find the events that fail on their own, and dead-letter them."""
        if len(items) > 1:
            log.warning(
                "batch failed (%s); handling its events one by one", describe_failure(error)
            )
            for item in items:
                await self._handle([item])
            return
        record, event = items[0]
        log.error("event %s failed: %s", event.id, describe_failure(error))
        await self._dead_letter(record, f"processing failed: {describe_failure(error)}")

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        for delay in self.backoff.delays():
            try:
                await self._dead_letters.send(record, error)
                return
            except KafkaError as failure:
                if not (failure.retriable or is_transient(failure)):
                    raise  # retrying cannot help: the batch fails (see `subscribe_batches`)
                log.warning(
                    "dead-letter topic unavailable, retrying in %.1fs: %s",
                    delay,
                    describe_failure(failure),
                )
                await asyncio.sleep(delay)


async def _keep_header_bytes(
    records: tuple[ConsumerRecord, ...], parse_batch: Callable[..., Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream's batch parser, minus its decoding of every header value as UTF-8.

    One record with a header we never read that is not UTF-8 would fail the whole batch
    there, before our code runs: its records would be neither processed nor dead-lettered,
    and the next batch's commit would cover them. FastStream parses header-less copies; the
    handler gets the records themselves, header bytes and all (`decode` reads them).
    """
    message = await parse_batch(tuple(dataclasses.replace(r, headers=()) for r in records))
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
    return KafkaBroker(config.kafka_bootstrap_servers, consumer_only=True)


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
) -> None:
    """Register `consumer` on `topic`: one handler call and one offset commit per batch.

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

    @broker.subscriber(
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
    async def on_batch(message: KafkaMessage) -> None:
        nonlocal retry_delays
        try:
            await consumer.process(message.raw_message)
        except Exception as error:
            # Not done with, whatever it was: consume the batch again, after a pause, and
            # commit nothing past it meanwhile (FastStream would just drop it).
            retry_delays = retry_delays or consumer.backoff.delays()
            delay = next(retry_delays)
            log.error("batch failed, consumed again in %.1fs: %s", delay, describe_failure(error))
            # A partition that a rebalance took away meanwhile is its new owner's to redeliver.
            with contextlib.suppress(IllegalStateError):
                await message.nack()  # seeks each partition back to the batch's first record
            await asyncio.sleep(delay)
            return
        retry_delays = None
        try:
            await message.ack()
        except KafkaError as error:
            # Typically a rebalance took the partitions away: their new owner gets the batch
            # again and the handler's dedupe makes the replay change nothing.
            log.warning("offset commit failed, the batch will be redelivered: %s", error)
