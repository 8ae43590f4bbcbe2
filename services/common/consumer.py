"""Batch consumption with the offset commit in our hands.

A batch of records becomes one call of a service's batch handler. The offset is committed
only after that call has returned, i.e. after the database has committed: a crash, a
rebalance or a shutdown in between redelivers the batch, and the handler's dedupe absorbs it.
Nothing that cannot be processed blocks a partition for ever, and nothing is lost:
- an invalid record (not JSON, not a CloudEvent, wrong type, bad fields) is dead-lettered;
- a record the Kafka client cannot unpack is dead-lettered, where it is and why (see
  `subscription.py`);
- a transient failure (the broker unreachable, any database error that is not about the
  values written: see `db.is_transient`) is retried with back-off, and nothing is
  dead-lettered;
- any other failure of a batch is narrowed down by handling its events one at a time, and the
  event that still fails is dead-lettered with the error;
- a dead letter that the broker refuses for good (authorization, an invalid topic) halts the
  consumer, uncommitted (see `subscription.py`).
Log lines and dead letters describe failures without the values involved (`describe_failure`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from services.common import db, metrics
from services.common.backoff import Backoff
from services.common.decoding import DecodedBatch
from services.common.envelope import CloudEvent, D
from services.common.kafka import DeadLetters
from services.common.logs import describe_failure

log = logging.getLogger(__name__)


class DeadLetterRefused(Exception):
    """The dead-letter topic refuses a record for a reason that retrying cannot fix."""


def is_transient(error: BaseException) -> bool:
    """Whether the same work, retried later, can succeed."""
    broker_unavailable = (KafkaConnectionError, KafkaTimeoutError)
    return isinstance(error, broker_unavailable) or db.is_transient(error)


# A handler may return how many of the events it found already processed (duplicates).
BatchHandler = Callable[[Sequence[CloudEvent[D]]], Awaitable[int | None]]


def _count_handled(topic: str, count: int, duplicates: int | None) -> None:
    metrics.consumed(topic, "duplicate", duplicates or 0)
    metrics.consumed(topic, "processed", count - (duplicates or 0))


class BatchConsumer(Generic[D]):
    """Dead-letter a batch's invalid records, hand its events (of `model`) to `handler`."""

    def __init__(
        self,
        model: type[D],
        handler: BatchHandler[D],
        dead_letters: DeadLetters,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.model = model
        self._handler = handler
        self.dead_letters = dead_letters
        self.backoff = backoff
        self.halted: str | None = None

    async def ready(self) -> None:
        """A readiness check: fails once the consumer has halted."""
        if self.halted:
            raise RuntimeError(self.halted)

    async def process(self, batch: DecodedBatch[D]) -> None:
        for record, reason in batch.invalid:
            await self._dead_letter(record, f"invalid event: {reason}")
        if batch.events:
            await self._handle(batch.events)

    async def _handle(self, items: list[tuple[ConsumerRecord, CloudEvent[D]]]) -> None:
        for delay in self.backoff.delays():
            try:
                duplicates = await self._handler([event for _, event in items])
                _count_handled(items[0][0].topic, len(items), duplicates)
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

    async def dead_letter_unreadable(
        self, partition: TopicPartition, offset: int, error: BaseException
    ) -> None:
        """Dead-letter a record the Kafka client could not unpack (see `DeadLetters`)."""
        reason = f"unreadable record: {describe_failure(error)}"
        await self._send_dead_letter(
            partition.topic,
            reason,
            lambda: self.dead_letters.send_unreadable(partition, offset, reason),
        )

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        await self._send_dead_letter(
            record.topic, error, lambda: self.dead_letters.send(record, error)
        )

    async def _send_dead_letter(
        self, topic: str, error: str, send: Callable[[], Awaitable[None]]
    ) -> None:
        for delay in self.backoff.delays():
            try:
                await send()
                reason = error.partition(":")[0].replace(" ", "_")
                metrics.consumed(topic, "dead_lettered", reason=reason)
                return
            except KafkaError as failure:
                if not (failure.retriable or is_transient(failure)):
                    raise DeadLetterRefused(describe_failure(failure)) from failure
                log.warning(
                    "dead-letter topic unavailable, retrying in %.1fs: %s",
                    delay,
                    describe_failure(failure),
                )
                await asyncio.sleep(delay)
