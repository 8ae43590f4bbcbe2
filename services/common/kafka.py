"""Kafka helpers shared by the services: producers, topics, dead letters, readiness."""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
)

from services.common import kafka_security
from services.common.config import Config
from services.common.contract import ALL_TOPICS

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


def make_producer(config: Config) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica: an acknowledged event is durable."""
    return AIOKafkaProducer(
        bootstrap_servers=config.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=config.kafka_enable_idempotence,
        linger_ms=2,
        # aiokafka sends one request per broker at a time, with one batch per partition in it:
        # at the default 16 KiB a batch, a broker slow to answer paced the outbox's publisher
        # (and through its bounded queue, the consumer) at about 140 events per round trip.
        max_batch_size=256 * 1024,
        request_timeout_ms=10_000,
        **kafka_security.client_options(config),
    )


async def create_topics(config: Config, names: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Idempotent."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=config.kafka_bootstrap_servers, **kafka_security.client_options(config)
    )
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    config.topic(name),
                    num_partitions=config.kafka_topic_partitions,
                    replication_factor=config.kafka_topic_replication_factor,
                )
                for name in names
            ]
        )
    finally:
        await admin.close()
    created = []
    for topic, error_code, *message in response.topic_errors:
        if error_code == 0:
            created.append(topic)
        elif error_code != TOPIC_ALREADY_EXISTS:
            raise RuntimeError(f"cannot create topic {topic}: error {error_code} {message}")
    return created


async def ping(producer: AIOKafkaProducer) -> None:
    """Raise unless the cluster answers a metadata request within two seconds."""
    await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=2)


# The producer's or the broker's size limit: the same record is refused however often it is sent.
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)

TRUNCATED_VALUE = b"(dead letter truncated: see dlq_truncated and dlq_original_size)"
UNREADABLE_VALUE = b"(unreadable record: see dlq_error; its bytes stay at dlq_original_offset)"


class DeadLetters:
    """Sends a record that cannot be processed to a dead-letter topic, unchanged.

    The original key, value, headers and timestamp are kept so an operator can replay the
    record to its topic as it was; `dlq_*` headers say where it came from, which consumer
    group refused it and why. A dead letter that does not fit the size limit (the `dlq_*`
    headers can push a record just within it past it) has its value replaced by a short
    marker, with `dlq_truncated: true` and `dlq_original_size`; if even that does not fit (a
    huge key or huge headers), key and original headers go too: `dlq_original_*` still say
    where the record is.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str, group: str) -> None:
        self._producer = producer
        self.topic = topic
        self._group = group

    async def send(self, record: ConsumerRecord, error: str) -> None:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, error
        )
        *larger, smallest = self._forms(record, error)
        for key, value, headers in larger:
            with contextlib.suppress(*TOO_LARGE):
                await self._produce(record, key, value, headers)
                return
            log.warning("dead letter too large for the broker: truncating it")
        await self._produce(record, *smallest)

    async def send_unreadable(self, partition: TopicPartition, offset: int, error: str) -> None:
        """A record the Kafka client could not unpack: where it is and why, and a marker for
        a value (`dlq_unreadable: true`). Its bytes stay in its topic, for a tool that reads
        them as they are (`kcat`); it cannot be replayed."""
        log.warning(
            "dead-lettering %s[%d]@%d: %s", partition.topic, partition.partition, offset, error
        )
        headers = [*self._headers(partition, offset, error), ("dlq_unreadable", b"true")]
        await self._producer.send_and_wait(self.topic, value=UNREADABLE_VALUE, headers=headers)

    def _headers(self, partition: TopicPartition, offset: int, error: str) -> list:
        return [
            ("dlq_original_topic", partition.topic.encode()),
            ("dlq_original_partition", str(partition.partition).encode()),
            ("dlq_original_offset", str(offset).encode()),
            ("dlq_consumer_group", self._group.encode()),
            ("dlq_error", error[:2000].encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]

    def _forms(self, record: ConsumerRecord, error: str) -> list[tuple]:
        """The dead letter as it should be, then smaller ones for when it does not fit."""
        original = list(record.headers or ())
        where = TopicPartition(record.topic, record.partition)
        ours = self._headers(where, record.offset, error)
        truncated = [
            *ours,
            ("dlq_truncated", b"true"),
            ("dlq_original_size", str(len(record.value or b"")).encode()),
        ]
        return [
            (record.key, record.value, [*original, *ours]),
            (record.key, TRUNCATED_VALUE, [*original, *truncated]),
            (None, TRUNCATED_VALUE, truncated),
        ]

    async def _produce(
        self, record: ConsumerRecord, key: bytes | None, value: bytes | None, headers: list
    ) -> None:
        await self._producer.send_and_wait(
            self.topic, value=value, key=key, headers=headers, timestamp_ms=record.timestamp
        )
