"""The batch consumer over the real broker when its own processing fails unexpectedly."""

import asyncio
import contextlib

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from services.common import kafka, subscription
from services.common.consumer import BatchConsumer
from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PaymentMethod,
    PaymentMethodAdded,
)
from services.common.envelope import new_event
from services.common.subscription import subscribe_batches
from tests.integration.common.test_outbox_and_consumer import payment_method_added
from tests.support import eventually, producer, publish, publish_raw


def dead_letters(config, kafka_producer) -> kafka.DeadLetters:
    return kafka.DeadLetters(kafka_producer, config.topic(AUTOPAY_DLQ_TOPIC), "group")


def subscribe(broker, consumer: BatchConsumer, config, **options):
    """Subscribe `consumer` to the payment methods in autopay's group; its readiness check."""
    return subscribe_batches(
        broker,
        consumer,
        topic=config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=config.group("autopay"),
        **options,
    )


class FailsOnce(BatchConsumer):
    """A consumer whose first batch raises from inside the subscriber, past its own handling."""

    failed = False

    async def process(self, batch):
        if not self.failed:
            self.failed = True
            raise RuntimeError("injected: a bug escaping the batch consumer")
        await super().process(batch)


async def test_a_batch_whose_processing_raises_is_consumed_again_not_committed_past(
    config, kafka_producer
):
    handled = []

    async def handler(events):
        handled.extend(event.data.customer_id for event in events)

    broker = KafkaBroker(config.kafka_bootstrap_servers)
    consumer = FailsOnce(PaymentMethodAdded, handler, dead_letters(config, kafka_producer))
    subscribe(broker, consumer, config)
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
    assert sum((await committed_offsets(config, config.group("autopay"))).values()) == 6


async def test_a_batch_failing_while_the_next_is_fetched_is_handled_again_before_that_one(
    config, kafka_producer, monkeypatch
):
    """The next batch is fetched and decoded while one is handled: when that one fails, the
    next must neither be handled before its retry nor be committed past it."""
    second_batch_decoded = asyncio.Event()
    decoders = 0

    def counting_decoder(model):
        decode = subscription_decoder(model)

        async def decode_and_count(message):
            nonlocal decoders
            decoders += 1
            if decoders == 2:
                second_batch_decoded.set()
            return await decode(message)

        return decode_and_count

    subscription_decoder = subscription.cloud_events_decoder
    monkeypatch.setattr(subscription, "cloud_events_decoder", counting_decoder)

    class FailsOnceTheNextIsFetched(BatchConsumer):
        failed = False

        async def process(self, batch):
            if not self.failed:
                self.failed = True
                await asyncio.wait_for(second_batch_decoded.wait(), timeout=15)
                raise RuntimeError("injected: a bug escaping the batch consumer")
            await super().process(batch)

    handled = []

    async def handler(events):
        handled.extend(event.data.payment_method.id for event in events)

    broker = KafkaBroker(config.kafka_bootstrap_servers)
    consumer = FailsOnceTheNextIsFetched(
        PaymentMethodAdded, handler, dead_letters(config, kafka_producer)
    )
    subscribe(broker, consumer, config, max_records=2)
    # One customer: one partition, in this order; batches of two.
    ids = [f"pm_{n}" for n in range(6)]
    card = PaymentMethod(id="pm", type="card", brand="visa", last4="4242")
    events = [
        new_event(
            payment_method_added(payment_method=card.model_copy(update={"id": i})), source="/t"
        )
        for i in ids
    ]
    await publish(config, *events)
    await broker.start()
    try:
        await eventually(lambda: len(handled) >= len(ids))
        await eventually(lambda: all_committed(config, config.group("autopay"), len(ids)))
    finally:
        await broker.stop()

    assert handled == ids


async def test_a_dead_letter_refused_for_good_halts_the_consumer_uncommitted_and_not_ready(
    config, kafka_producer, caplog
):
    handled = []

    async def handler(events):
        handled.extend(event.data.customer_id for event in events)

    # Apache Kafka refuses any record for an internal topic: InvalidTopicError, for good.
    refusing = kafka.DeadLetters(kafka_producer, "__consumer_offsets", config.group("autopay"))
    consumer = BatchConsumer(PaymentMethodAdded, handler, refusing)
    broker = KafkaBroker(config.kafka_bootstrap_servers)
    ready = subscribe(broker, consumer, config)
    async with producer(config) as client:
        await publish_raw(config, PAYMENT_METHOD_ADDED_TOPIC, b"not json", client=client)
        await broker.start()
        try:
            await eventually(lambda: consumer.halted)
            with pytest.raises(RuntimeError, match="InvalidTopicError"):
                await ready()
            await publish(config, new_event(payment_method_added("later"), source="/t"))
            with contextlib.suppress(AssertionError):
                await eventually(lambda: handled, timeout=2)
        finally:
            await broker.stop()

    assert handled == []
    assert caplog.text.count("dead-lettering") == 1
    assert await committed_offsets(config, config.group("autopay")) == {}


async def all_committed(config, group: str, count: int) -> bool:
    return sum((await committed_offsets(config, group)).values()) == count


async def committed_offsets(config, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}
