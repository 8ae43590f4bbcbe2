"""Batch consumption with the offset commit in our hands.

A batch of records becomes one call of a service's batch handler. The offset is committed
only after that call has returned, i.e. after the database has committed: a crash, a
rebalance or a shutdown in between redelivers the batch, and the handler's dedupe absorbs it.
Nothing that cannot be processed blocks a partition for ever:
- an invalid record (not JSON, not a CloudEvent, wrong type, bad fields) is dead-lettered;
- a transient failure (database or broker unreachable) is retried with back-off;
- any other failure of a batch is narrowed down by handling its events one at a time, and the
  event that still fails is dead-lettered with the error.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common.db import TRANSIENT_DB_ERRORS
from services.common.envelope import CloudEvent, D, InvalidEvent, decode
from services.common.kafka import DeadLetters

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised by a handler when the same work, retried later, can succeed."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSIENT_DB_ERRORS,
    KafkaConnectionError,
    KafkaTimeoutError,
    RetryLater,
)

BatchHandler = Callable[[Sequence[CloudEvent[D]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.1
    factor: float = 2.0
    longest: float = 5.0

    def delays(self):
        delay = self.first
        while True:
            yield delay
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
        self._backoff = backoff

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
        for delay in self._backoff.delays():
            try:
                await self._handler([event for _, event in items])
                return
            except TRANSIENT_ERRORS as error:
                log.warning("transient failure, retrying in %.1fs: %r", delay, error)
                await asyncio.sleep(delay)
            except Exception as error:
                if len(items) > 1:
                    log.warning("batch failed (%r); handling its events one by one", error)
                    for item in items:
                        await self._handle([item])
                    return
                log.exception("event %s failed", items[0][1].id)
                await self._dead_letter(items[0][0], f"processing failed: {error!r}")
                return

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        for delay in self._backoff.delays():
            try:
                await self._dead_letters.send(record, error)
                return
            except KafkaError as failure:
                log.warning("dead-letter topic unavailable, retrying in %.1fs: %r", delay, failure)
                await asyncio.sleep(delay)


async def _leave_undecoded(message: object) -> None:
    """Skip FastStream's own body decoding: `BatchConsumer` decodes every record itself.

    FastStream would parse each `application/json` value before the handler runs, and one
    record that is not JSON would fail the whole batch outside the handler, unacknowledged
    and never dead-lettered, while later batches commit past it.
    """
    return None


def subscribe_batches(
    broker: KafkaBroker,
    consumer: BatchConsumer,
    *,
    topic: str,
    group_id: str,
    max_records: int = 1000,
    session_timeout_ms: int | None = None,
    fetch_max_wait_ms: int = 500,
) -> None:
    """Register `consumer` on `topic`: one handler call and one offset commit per batch.

    `session_timeout_ms` (default: the client's) also bounds how long joining the group
    takes on the embedded broker, which waits about half of it before assigning partitions.
    `fetch_max_wait_ms` bounds the latency of an idle partition on the embedded broker, which
    holds a fetch for that long even when records arrive sooner.
    """
    group_timing = (
        {}
        if session_timeout_ms is None
        else {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": max(100, min(3000, session_timeout_ms // 3)),
        }
    )

    @broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        # FastStream sleeps this long after an empty poll: short, for latency when idle.
        batch_timeout_ms=10,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        decoder=_leave_undecoded,
        fetch_max_wait_ms=fetch_max_wait_ms,
        **group_timing,
    )
    async def on_batch(message: KafkaMessage) -> None:
        await consumer.process(message.raw_message)
        try:
            await message.ack()
        except KafkaError as error:
            # Typically a rebalance took the partitions away: their new owner gets the batch
            # again and the handler's dedupe makes the replay change nothing.
            log.warning("offset commit failed, the batch will be redelivered: %r", error)
