"""`dlq list|show|replay`: what a service dead-lettered, and sending it back after a fix.

A dead letter is the original record (key, value, headers, timestamp) plus `dlq_*` headers
(see `services.common.kafka.DeadLetters`), or, when that was too large, the same with a marker
for a value: replaying it means producing the original to the partition it came from. The
services dedupe on `ce_id`, so replaying a record twice, or one that had been processed after
all, changes nothing.
"""

from collections.abc import AsyncIterator

from aiokafka import ConsumerRecord

from services.common.config import Config
from services.common.contract import AUTOPAY_DLQ_TOPIC, NOTIFIER_DLQ_TOPIC
from services.operators import reading
from services.operators.display import position, readable
from services.operators.publish import operator_producer

DLQ_TOPICS = {"autopay": AUTOPAY_DLQ_TOPIC, "notifier": NOTIFIER_DLQ_TOPIC}
DLQ_HEADER_PREFIX = "dlq_"


class NotADeadLetter(ValueError):
    """A record of a DLQ topic without the headers that say where it came from."""


class NoSuchRecord(LookupError):
    """No record at that position (any more: retention may have deleted it)."""


class Unreplayable(ValueError):
    """The dead letter of a record the Kafka client could not unpack: nothing to send back."""


def dlq_header(record: ConsumerRecord, name: str) -> str | None:
    for header, value in record.headers or ():
        if header == DLQ_HEADER_PREFIX + name:
            return value.decode("utf-8", errors="replace")
    return None


def original_headers(record: ConsumerRecord) -> list[tuple[str, bytes]]:
    return [(n, v) for n, v in record.headers or () if not n.startswith(DLQ_HEADER_PREFIX)]


def summary_line(record: ConsumerRecord) -> str:
    """Where a dead letter is, where it came from, which group refused it, when and why."""
    topic, partition, offset = (
        dlq_header(record, f"original_{name}") for name in ("topic", "partition", "offset")
    )
    if topic is None:
        return f"{position(record)}  not a dead letter (no dlq_original_topic header)"
    fields = {
        "from": f"{topic}[{partition}]@{offset}",
        "group": dlq_header(record, "consumer_group"),
        "at": dlq_header(record, "failed_at"),
        "error": dlq_header(record, "error"),
    }
    return f"{position(record)}  " + "  ".join(
        f"{name}={readable(value)}" for name, value in fields.items()
    )


def details(record: ConsumerRecord) -> list[str]:
    """The whole record: key, every header in order, the value (as text when it is text)."""
    value = record.value or b""
    return [
        f"record: {record.topic} {position(record)}",
        f"key: {readable(record.key)}",
        "headers:",
        *(f"  {readable(name)}: {readable(raw)}" for name, raw in record.headers or ()),
        f"value ({len(value)} bytes{'' if _is_utf8(value) else ', not UTF-8: escaped'}):",
        readable(record.value),
    ]


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def dead_letters(config: Config, service: str) -> list[ConsumerRecord]:
    """Every record of the service's DLQ topic now, oldest first."""
    async with reading.assigned(config, config.topic(DLQ_TOPICS[service])) as consumer:
        await consumer.seek_to_beginning()
        records = [record async for record in reading.until_end(consumer)]
    # A dead letter keeps the original's timestamp: the time it was dead-lettered is a header.
    return sorted(records, key=lambda r: (dlq_header(r, "failed_at") or "", r.partition, r.offset))


async def find(
    config: Config, service: str, positions: list[tuple[int, int]]
) -> list[ConsumerRecord]:
    """The records at these `(partition, offset)` positions of the service's DLQ topic."""
    topic = config.topic(DLQ_TOPICS[service])
    records = []
    async with reading.assigned(config, topic) as consumer:
        for partition, offset in positions:
            record = await reading.record_at(consumer, partition, offset)
            if record is None:
                raise NoSuchRecord(f"no record at {partition}:{offset} in {topic}")
            records.append(record)
    return records


async def replay(config: Config, records: list[ConsumerRecord]) -> AsyncIterator[str]:
    """Send dead letters back as they first arrived (key, value, headers, timestamp), in order;
    say where each one went. Nothing is sent unless every record can be.

    A truncated dead letter holds a marker instead of the value: the original is read from
    where it came from, as long as the topic's retention keeps it.
    """
    originals = [await _original(config, record) for record in records]
    async with operator_producer(config) as producer:
        for record, (original, partition) in zip(records, originals, strict=True):
            sent = await producer.send_and_wait(
                dlq_header(record, "original_topic"),
                value=original.value,
                key=original.key,
                headers=original_headers(original),
                partition=partition,
                timestamp_ms=original.timestamp,
            )
            yield f"{position(record)} → {sent.topic}[{sent.partition}]@{sent.offset}"


async def _original(config: Config, record: ConsumerRecord) -> tuple[ConsumerRecord, int]:
    """The record to replay for a dead letter, and the partition it came from."""
    topic, partition, offset = (
        dlq_header(record, f"original_{name}") for name in ("topic", "partition", "offset")
    )
    if topic is None or not (partition or "").isdigit() or not (offset or "").isdigit():
        raise NotADeadLetter(f"{position(record)} has no dlq_original_topic/partition/offset")
    if dlq_header(record, "unreadable") == "true":
        raise Unreplayable(
            f"{position(record)} stands for a record the Kafka client could not unpack: read "
            f"{topic}[{partition}]@{offset} as it is (kcat); it cannot be replayed"
        )
    if dlq_header(record, "truncated") != "true":
        return record, int(partition)
    async with reading.assigned(config, topic) as consumer:
        original = await reading.record_at(consumer, int(partition), int(offset))
    if original is None:
        raise NoSuchRecord(
            f"{position(record)} was truncated, and {topic}[{partition}]@{offset} is gone"
        )
    return original, int(partition)
