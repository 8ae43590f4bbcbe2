"""Kafka in: each topic's batches become one service call.

Two consumer groups, so that a payment-method batch waiting for a settings version can never
hold up the consumption of that very version.
"""

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.autopay.customer_changes import CustomerChanges
from services.autopay.service import AutopayService
from services.common.config import Config
from services.common.consumer import BatchConsumer
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    CHANGE_REQUESTED_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PAYMENT_METHOD_REMOVED_TOPIC,
    SETTINGS_CHANGED_TOPIC,
    AutopayChangeRequested,
    PaymentMethodAdded,
    PaymentMethodRemoved,
    PortalSettingsChanged,
)
from services.common.http import Check
from services.common.kafka import DeadLetters
from services.common.subscription import subscribe_batches

# The settings topic is mostly quiet; on the embedded broker, a consumer polling an idle topic
# every few milliseconds delays the fetches of the payment-method consumer (measured: median
# latency 8 ms alone, 16 ms beside a 5 ms idle poller, 9 ms beside a 50 ms one).
SETTINGS_FETCH_MAX_WAIT_MS = 50
# Customers' changes and removals are rarer still, and nothing waits on them: an idle poll of
# theirs every 500 ms, not 50, leaves the CPU to the payment methods (Apache Kafka answers a
# fetch as soon as a record arrives; the embedded broker may hold a change up to that long).
CHANGES_FETCH_MAX_WAIT_MS = 500


def settings_group(config: Config) -> str:
    return config.group("autopay") + ".settings"


def payment_methods_group(config: Config) -> str:
    return config.group("autopay")


def change_requests_group(config: Config) -> str:
    return config.group("autopay") + ".change-requests"


def removals_group(config: Config) -> str:
    return config.group("autopay") + ".removals"


def register(
    broker: KafkaBroker, service: AutopayService, producer: AIOKafkaProducer, config: Config
) -> dict[str, Check]:
    """Subscribe both topics; each one's dead letters name its own consumer group.

    Returns the readiness check of each subscription, by consumer group.
    """
    dead_letter_topic = config.topic(AUTOPAY_DLQ_TOPIC)
    settings = subscribe_batches(
        broker,
        BatchConsumer(
            PortalSettingsChanged,
            service.record_settings,
            DeadLetters(producer, dead_letter_topic, settings_group(config)),
        ),
        topic=config.topic(SETTINGS_CHANGED_TOPIC),
        group_id=settings_group(config),
        session_timeout_ms=config.kafka_session_timeout_ms,
        fetch_max_wait_ms=SETTINGS_FETCH_MAX_WAIT_MS,
        batch_timeout_ms=config.kafka_batch_timeout_ms,
    )
    payment_methods = subscribe_batches(
        broker,
        BatchConsumer(
            PaymentMethodAdded,
            service.record_payment_methods,
            DeadLetters(producer, dead_letter_topic, payment_methods_group(config)),
        ),
        topic=config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=payment_methods_group(config),
        session_timeout_ms=config.kafka_session_timeout_ms,
        # The consumer asks for more records only once it has taken the last ones, while it
        # hands a batch over: a fetch answered at once brings what came in its first
        # milliseconds, and what comes later waits for the batch after. Held until a mebibyte
        # is there (a backlog fills it at once) or about one batch's handling has passed, a
        # fetch brings what came meanwhile (`benchmarks.fetch_wait`).
        fetch_min_bytes=config.autopay_fetch_min_bytes,
        fetch_max_wait_ms=config.autopay_fetch_max_wait_ms,
        batch_timeout_ms=config.kafka_batch_timeout_ms,
    )
    return {settings_group(config): settings, payment_methods_group(config): payment_methods}


def register_customer_changes(
    broker: KafkaBroker, changes: CustomerChanges, producer: AIOKafkaProducer, config: Config
) -> dict[str, Check]:
    """Subscribe the customer portal's change requests and the removals, each in its own
    group: a batch of requests waiting for their payment methods never holds up removals.

    Returns the readiness check of each subscription, by consumer group.
    """
    dead_letter_topic = config.topic(AUTOPAY_DLQ_TOPIC)
    subscriptions = [
        (
            AutopayChangeRequested,
            changes.record_requests,
            CHANGE_REQUESTED_TOPIC,
            change_requests_group,
        ),
        (
            PaymentMethodRemoved,
            changes.record_removals,
            PAYMENT_METHOD_REMOVED_TOPIC,
            removals_group,
        ),
    ]
    checks = {}
    for model, handler, topic, group in subscriptions:
        checks[group(config)] = subscribe_batches(
            broker,
            BatchConsumer(model, handler, DeadLetters(producer, dead_letter_topic, group(config))),
            topic=config.topic(topic),
            group_id=group(config),
            session_timeout_ms=config.kafka_session_timeout_ms,
            fetch_max_wait_ms=CHANGES_FETCH_MAX_WAIT_MS,
            batch_timeout_ms=config.kafka_batch_timeout_ms,
        )
    return checks
