"""Kafka in: each topic's batches become one service call.

Two consumer groups, so that a payment-method batch waiting for a settings version can never
hold up the consumption of that very version.
"""

from faststream.kafka import KafkaBroker

from services.autopay.service import AutopayService
from services.common.config import Config
from services.common.consumer import BatchConsumer, subscribe_batches
from services.common.contract import (
    PAYMENT_METHOD_ADDED_TOPIC,
    SETTINGS_CHANGED_TOPIC,
    PaymentMethodAdded,
    PortalSettingsChanged,
)
from services.common.kafka import DeadLetters

# A new payment method is decided, and new settings take effect, within tens of milliseconds,
# also when the topics are quiet.
FETCH_MAX_WAIT_MS = 5
# The settings topic is mostly quiet; on the embedded broker, a consumer polling an idle topic
# every few milliseconds delays the fetches of the payment-method consumer (measured: median
# latency 8 ms alone, 16 ms beside a 5 ms idle poller, 9 ms beside a 50 ms one).
SETTINGS_FETCH_MAX_WAIT_MS = 50


def settings_group(config: Config) -> str:
    return config.group("autopay") + ".settings"


def payment_methods_group(config: Config) -> str:
    return config.group("autopay")


def register(
    broker: KafkaBroker, service: AutopayService, dead_letters: DeadLetters, config: Config
) -> None:
    subscribe_batches(
        broker,
        BatchConsumer(PortalSettingsChanged, service.record_settings, dead_letters),
        topic=config.topic(SETTINGS_CHANGED_TOPIC),
        group_id=settings_group(config),
        session_timeout_ms=config.kafka_session_timeout_ms,
        fetch_max_wait_ms=SETTINGS_FETCH_MAX_WAIT_MS,
    )
    subscribe_batches(
        broker,
        BatchConsumer(PaymentMethodAdded, service.record_payment_methods, dead_letters),
        topic=config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=payment_methods_group(config),
        session_timeout_ms=config.kafka_session_timeout_ms,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
