"""Kafka helpers shared by the services: producers, topics, dead letters, readiness."""

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

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
        request_timeout_ms=10_000,
    )


async def create_topics(config: Config, names: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Idempotent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers)
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


class DeadLetters:
    """Sends a record that cannot be processed to a dead-letter topic, unchanged.

    The original key, value and headers are kept so an operator can replay the record to its
    topic as it was; `dlq_*` headers say where it came from and why it was refused.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str, group: str) -> None:
        self._producer = producer
        self._topic = topic
        self._group = group

    async def send(self, record: ConsumerRecord, error: str) -> None:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, error
        )
        headers = [
            *(record.headers or ()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_consumer_group", self._group.encode()),
            ("dlq_error", error[:2000].encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self._producer.send_and_wait(
            self._topic, value=record.value, key=record.key, headers=headers
        )
