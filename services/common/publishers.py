"""What a service sends, declared on its FastStream broker: the application describes its
outgoing topics, and FastStream's AsyncAPI lists them as `send` operations.

No record goes through these publishers. Events leave through the outbox on our own producer:
its publisher sends one record batch per partition (`send_batch`, half the CPU), its relay
sends a whole claim before awaiting the acknowledgements, and both delete the claimed rows
only once acknowledged; FastStream's `publish` awaits one record at a time. Dead letters keep
the original record's header bytes, repeated header names and timestamp, which FastStream's
publish (headers as a dict of strings) cannot carry.
"""

from faststream.kafka import KafkaBroker

from services.common.config import Config
from services.common.contract import EVENT_TOPICS, KEY_FIELDS, ContractModel, event_type


def declare_events(broker: KafkaBroker, config: Config, *models: type[ContractModel]) -> None:
    """Declare the topic of each event `models` names, with its payload and key."""
    for model in models:
        name = event_type(model)
        broker.publisher(
            config.topic(EVENT_TOPICS[model]),
            title=f"send{name}",
            description=f"CloudEvents in binary mode (ce_* headers), type {name}, "
            f"keyed by {':'.join(KEY_FIELDS[model])}. Sent by the outbox.",
            schema=model,
        )


def declare_dead_letters(broker: KafkaBroker, topic: str) -> None:
    """Declare a dead-letter topic, once per broker however many subscriptions use it."""
    if any(getattr(publisher, "topic", None) == topic for publisher in broker.publishers):
        return
    broker.publisher(
        topic,
        title=f"sendDeadLetters:{topic}",
        description="The original record, unchanged, with dlq_* headers saying why.",
    )
