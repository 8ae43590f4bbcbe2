"""Effectively once: redelivery, operator replay and invalid input change nothing twice."""

import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.autopay.subscribers import payment_methods_group
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
)
from services.common.envelope import encode_binary
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    processed_count,
    profiles,
)
from tests.support import TopicReader, eventually, header, producer, publish, publish_raw


async def test_a_redelivered_event_is_decided_once_and_invalid_records_are_dead_lettered(
    config,
):
    twice_in_a_batch = payment_method_added("m", "c1", box=True)
    again_later = payment_method_added("m", "c2")
    after_the_bad_ones = payment_method_added("m", "c3")
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        producer(config) as client,
    ):
        await publish(config, twice_in_a_batch, twice_in_a_batch, again_later, client=client)
        await choices.wait_for(2)
        await publish(config, again_later, client=client)

        headers, _ = encode_binary(payment_method_added("m", "bad"))
        full_card = json.loads(encode_binary(payment_method_added("m", "bad"))[1])
        full_card["payment_method"]["last4"] = "4242424242424242"
        wrong_type = [(n, b"PortalSettingsChanged" if n == "ce_type" else v) for n, v in headers]
        for value, record_headers in [
            (b"{not json", headers),
            (encode_binary(payment_method_added("m", "bad"))[1], wrong_type),
            (json.dumps(full_card).encode(), headers),
        ]:
            await publish_raw(
                config, PAYMENT_METHOD_ADDED_TOPIC, value, headers=record_headers, client=client
            )
        await publish(config, after_the_bad_ones, client=client)

        async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead:
            dead_letters = await dead.wait_for(3)
        await choices.wait_for(3)
        decided = choices_by_cause(await choices.settle())

    assert set(decided) == {twice_in_a_batch.id, again_later.id, after_the_bad_ones.id}
    assert len(await profiles(config)) == 3
    assert await processed_count(config) == 3
    errors = sorted(header(record, "dlq_error") for record in dead_letters)
    assert [error.split(":")[0] for error in errors] == ["invalid event"] * 3
    assert any("payment_method.last4" in error for error in errors)
    assert any("type: must be PaymentMethodAdded" in error for error in errors)
    assert all("4242424242424242" not in error for error in errors)
    assert {header(r, "dlq_consumer_group") for r in dead_letters} == {
        payment_methods_group(config)
    }


async def test_a_replay_after_an_operator_resets_the_offsets_publishes_nothing_new(config):
    events = [payment_method_added("m", f"c{n}", box=True) for n in range(20)]
    async with (
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        producer(config) as client,
    ):
        async with autopay_in_process(config):
            await publish(config, *events, client=client)
            await choices.wait_for(20)
        before = await profiles(config)

        await reset_offsets_to_the_beginning(config)
        after_replay = payment_method_added("m", "after-replay", box=False)
        async with autopay_in_process(config):
            await publish(config, after_replay, client=client)
            await choices.wait_for(21)
            decided = choices_by_cause(await choices.settle())

    assert set(decided) == {event.id for event in events} | {after_replay.id}
    after = await profiles(config)
    assert {cause: after[cause] for cause in before} == before
    assert await processed_count(config) == 21


async def reset_offsets_to_the_beginning(config) -> None:
    """What an operator does with kafka-consumer-groups --reset-offsets --to-earliest."""
    topic = config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.kafka_bootstrap_servers,
        group_id=payment_methods_group(config),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        # Offsets are committed by a member of the group (the broker refuses anyone else).
        consumer.subscribe([topic])
        await eventually(lambda: joined(consumer))
        partitions = [TopicPartition(topic, n) for n in consumer.partitions_for_topic(topic)]
        await consumer.commit({partition: 0 for partition in partitions})
        committed = [await consumer.committed(partition) for partition in partitions]
    finally:
        await consumer.stop()
    assert committed == [0] * len(partitions)


async def joined(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=100, max_records=1)
    return bool(consumer.assignment())
