"""Reading a topic as an operator does: outside any consumer group, committing nothing.

A tool that joined a service's group would take partitions away from the service; one with a
group of its own would leave offsets behind. Assigning the partitions directly does neither.
"""

import contextlib
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common import kafka_security
from services.common.config import Config

# The embedded broker holds a fetch this long even when records are there: short, so that the
# tools answer at once.
FETCH_MAX_WAIT_MS = 100
POLL_MS = 1000


class UnknownTopic(LookupError):
    pass


@contextlib.asynccontextmanager
async def assigned(config: Config, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer assigned every partition of `topic` (its full, prefixed name)."""
    partitions = await _partitions(config, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        **kafka_security.client_options(config),
    )
    try:
        await consumer.start()
        consumer.assign(partitions)
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(config: Config, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=config.kafka_bootstrap_servers, **kafka_security.client_options(config)
    )
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        raise UnknownTopic(f"no topic {topic} on {config.kafka_bootstrap_servers}")
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def follow(consumer: AIOKafkaConsumer) -> AsyncIterator[ConsumerRecord]:
    """Every record from the current positions on, as they arrive; never ends."""
    while True:
        batches = await consumer.getmany(timeout_ms=POLL_MS)
        for records in batches.values():
            for record in records:
                yield record


async def until_end(consumer: AIOKafkaConsumer) -> AsyncIterator[ConsumerRecord]:
    """The records from the current positions up to the end the topic has now; then stop."""
    ends = await consumer.end_offsets(list(consumer.assignment()))
    pending = [tp for tp, end in ends.items() if await consumer.position(tp) < end]
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=POLL_MS)
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]


async def record_at(
    consumer: AIOKafkaConsumer, partition: int, offset: int
) -> ConsumerRecord | None:
    """The record at `offset` of `partition`, or None when there is none (any more)."""
    [topic] = {tp.topic for tp in consumer.assignment()}
    tp = TopicPartition(topic, partition)
    if tp not in consumer.assignment():
        return None
    first = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    if not first <= offset < end:
        return None
    consumer.seek(tp, offset)
    while await consumer.position(tp) < end:
        records = (await consumer.getmany(tp, timeout_ms=POLL_MS, max_records=1)).get(tp)
        if records:
            return records[0] if records[0].offset == offset else None
    return None
