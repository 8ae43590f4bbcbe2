"""Kafka subscriptions of the notifier: translate batches of records into service calls.

Settings and choices have separate consumer groups, so a choice waiting for its settings
version never holds up the settings it waits for.
"""

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.common.config import Config
from services.common.consumer import BatchConsumer, BatchHandler
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    NOTIFIER_DLQ_TOPIC,
    SETTINGS_CHANGED_TOPIC,
    AutopayChoiceRecorded,
    PortalSettingsChanged,
)
from services.common.http import Check
from services.common.kafka import DeadLetters
from services.common.subscription import subscribe_batches


def groups(config: Config) -> tuple[str, str]:
    """The consumer groups of the settings projection and of the choices."""
    base = config.group("notifier")
    return f"{base}.settings", f"{base}.choices"


def subscribe_settings(
    broker: KafkaBroker,
    config: Config,
    producer: AIOKafkaProducer,
    handler: BatchHandler[PortalSettingsChanged],
    *,
    group_id: str,
) -> Check:
    dead_letters = DeadLetters(producer, config.topic(NOTIFIER_DLQ_TOPIC), group_id)
    return subscribe_batches(
        broker,
        BatchConsumer(PortalSettingsChanged, handler, dead_letters),
        topic=config.topic(SETTINGS_CHANGED_TOPIC),
        group_id=group_id,
        session_timeout_ms=config.kafka_session_timeout_ms,
        batch_timeout_ms=config.kafka_batch_timeout_ms,
    )


def subscribe_choices(
    broker: KafkaBroker,
    config: Config,
    producer: AIOKafkaProducer,
    handler: BatchHandler[AutopayChoiceRecorded],
    *,
    group_id: str,
) -> Check:
    dead_letters = DeadLetters(producer, config.topic(NOTIFIER_DLQ_TOPIC), group_id)
    return subscribe_batches(
        broker,
        BatchConsumer(AutopayChoiceRecorded, handler, dead_letters),
        topic=config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC),
        group_id=group_id,
        session_timeout_ms=config.kafka_session_timeout_ms,
        batch_timeout_ms=config.kafka_batch_timeout_ms,
    )
