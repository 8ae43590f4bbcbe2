"""The batch consumer over the real broker when its own processing fails unexpectedly."""

from faststream.kafka import KafkaBroker

from services.common import kafka
from services.common.consumer import BatchConsumer, subscribe_batches
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PaymentMethodAdded,
)
from services.common.envelope import new_event
from tests.integration.common.test_outbox_and_consumer import payment_method_added
from tests.support import eventually, producer, publish


class FailsOnce(BatchConsumer):
    """A consumer whose first batch raises from inside the subscriber, past its own handling."""

    failed = False

    async def process(self, records):
        if not self.failed:
            self.failed = True
            raise RuntimeError("injected: a bug escaping the batch consumer")
        await super().process(records)


async def test_a_batch_whose_processing_raises_is_consumed_again_not_committed_past(
    config, kafka_producer
):
    handled = []

    async def handler(events):
        handled.extend(event.data.customer_id for event in events)

    dead_letters = kafka.DeadLetters(kafka_producer, config.topic(AUTOPAY_DLQ_TOPIC), "group")
    broker = KafkaBroker(config.kafka_bootstrap_servers)
    consumer = FailsOnce(PaymentMethodAdded, handler, dead_letters)
    subscribe_batches(
        broker,
        consumer,
        topic=config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=config.group("autopay"),
    )
    first = [new_event(payment_method_added(f"first{n}"), source="/t") for n in range(5)]
    later = new_event(payment_method_added("later"), source="/t")
    async with producer(config) as client:
        await publish(config, *first, client=client)
        await broker.start()
        try:
            await eventually(lambda: consumer.failed)
            await publish(config, later, client=client)
            await eventually(lambda: len(handled) >= 6)
        finally:
            await broker.stop()

    assert sorted(handled) == sorted(["later", *(f"first{n}" for n in range(5))])
