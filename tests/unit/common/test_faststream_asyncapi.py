"""FastStream's own AsyncAPI of the services' wiring agrees with the exported contract."""

from urllib.parse import unquote

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from services.autopay import app as autopay_app
from services.autopay import subscribers as autopay_subscribers
from services.common.config import Config
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    EVENT_TOPICS,
    NOTIFIER_DLQ_TOPIC,
    PaymentMethodAdded,
)
from services.common.publishers import declare_events
from services.common.schemas_export import PUBLISHED
from services.notifier import subscribers as notifier_subscribers
from services.settings import app as settings_app

CONFIG = Config(_env_file=None, auth_jwt_secret="s" * 32)


async def handle(events) -> None:
    return None


class Service:
    record_settings = record_payment_methods = staticmethod(handle)


def wired_brokers() -> list[KafkaBroker]:
    """Each service's brokers, wired as its app wires them, never started."""
    settings = settings_app.create_app(CONFIG).state.broker
    autopay = KafkaBroker()
    declare_events(autopay, CONFIG, *autopay_app.SENDS)
    autopay_subscribers.register(autopay, Service(), None, CONFIG)
    notifier = KafkaBroker()
    notifier_subscribers.subscribe_settings(notifier, CONFIG, None, handle, group_id="s")
    notifier_subscribers.subscribe_choices(notifier, CONFIG, None, handle, group_id="c")
    return [settings, autopay, notifier]


def addresses(broker: KafkaBroker, action: str) -> set[str]:
    spec = AsyncAPI(broker, schema_version="3.0.0").to_specification().to_jsonable()
    channels = spec["channels"]
    return {
        channels[unquote(operation["channel"]["$ref"].rpartition("/")[2])]["address"]
        for operation in spec["operations"].values()
        if operation["action"] == action
    }


def test_the_services_declare_sending_exactly_what_the_contract_marks_as_sent():
    sent = set().union(*(addresses(broker, "send") for broker in wired_brokers()))
    assert sent == {EVENT_TOPICS[model] for model in PUBLISHED} | {
        AUTOPAY_DLQ_TOPIC,
        NOTIFIER_DLQ_TOPIC,
    }


def test_the_services_receive_only_topics_of_the_contract():
    received = set().union(*(addresses(broker, "receive") for broker in wired_brokers()))
    assert EVENT_TOPICS[PaymentMethodAdded] in received
    assert received <= set(EVENT_TOPICS.values())
