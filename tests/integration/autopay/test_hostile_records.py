"""Hostile and unlucky records: none of them loses, stalls or leaks another event."""

import json
import logging

import asyncpg

from services.autopay.subscribers import payment_methods_group, settings_group
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    AUTOPAY_DLQ_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    SETTINGS_CHANGED_TOPIC,
)
from services.common.envelope import encode_binary
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    processed_count,
    settings_changed,
)
from tests.support import TopicReader, eventually, header, producer, publish, publish_raw

CARD = "4111111111111111"


async def test_a_header_that_is_not_utf8_rejects_only_its_own_record_and_only_when_we_read_it(
    config,
):
    valid = [payment_method_added("m", f"c{n}") for n in range(8)]
    traced = payment_method_added("m", "traced")
    bad_id = payment_method_added("m", "bad-id")
    async with producer(config) as client:
        # All in before the service starts: they are fetched together, in one batch.
        await publish(config, *valid[:4], client=client)
        for event, name in [(traced, "x-trace"), (bad_id, "ce_id")]:
            headers, value = encode_binary(event)
            headers = [(n, v) for n, v in headers if n != name] + [(name, b"\xff\xfe")]
            await publish_raw(
                config, PAYMENT_METHOD_ADDED_TOPIC, value, headers=headers, key="m", client=client
            )
        await publish(config, *valid[4:], client=client)
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
    ):
        await choices.wait_for(9)
        decided = choices_by_cause(await choices.settle())
        dead_letters = await dead.wait_for(1)

    assert set(decided) == {event.id for event in [*valid, traced]}
    [error] = [header(record, "dlq_error") for record in dead_letters]
    assert error.startswith("invalid event: id: Input should be a valid string")


async def test_a_record_whose_dead_letter_is_too_large_is_dead_lettered_truncated(config):
    headers, _ = encode_binary(payment_method_added("m", "huge"))
    # Just within the producer's limit (1 MiB) with its headers; not with the `dlq_*` ones.
    huge = b'{"merchant_id": "' + b"x" * 1_048_000 + b'"}'
    after = payment_method_added("m", "after")
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
        producer(config) as client,
    ):
        await publish_raw(
            config, PAYMENT_METHOD_ADDED_TOPIC, huge, headers=headers, key="m:huge", client=client
        )
        await publish(config, after, client=client)
        [dead_letter] = await dead.wait_for(1, timeout=30)
        await choices.wait_for(1)

    assert header(dead_letter, "dlq_truncated") == "true"
    assert header(dead_letter, "dlq_original_size") == str(len(huge))
    assert len(dead_letter.value) < 200
    assert dead_letter.key == b"m:huge"
    assert [(n, v) for n, v in dead_letter.headers if not n.startswith("dlq_")] == headers
    assert "merchant_id" in header(dead_letter, "dlq_error")


async def test_a_read_only_database_mid_stream_is_waited_out_and_nothing_is_dead_lettered(
    config, caplog
):
    caplog.set_level(logging.WARNING)
    before = [payment_method_added("m", f"before{n}") for n in range(2)]
    during = [payment_method_added("m", f"during{n}") for n in range(5)]
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        producer(config) as client,
    ):
        await publish(config, *before, client=client)
        await choices.wait_for(2)
        await set_read_only(config.database_url, True)
        await publish(config, *during, client=client)
        await eventually(lambda: "ReadOnlySQLTransactionError" in caplog.text)
        await set_read_only(config.database_url, False)
        await choices.wait_for(7, timeout=30)
        decided = choices_by_cause(await choices.settle())
        async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead:
            dead_letters = await dead.settle()

    assert dead_letters == []
    assert set(decided) == {event.id for event in [*before, *during]}
    assert await processed_count(config) == 7


async def set_read_only(database_url: str, read_only: bool) -> None:
    """What a failover to a replica looks like to the service, and back."""
    connection = await asyncpg.connect(database_url)
    try:
        name = await connection.fetchval("SELECT current_database()")
        await connection.execute("SET default_transaction_read_only = off")
        setting = "on" if read_only else "off"
        await connection.execute(
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = {setting}'
        )
        # The setting applies to new sessions: end the service's current ones.
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await connection.close()


def card_in_every_attribute_and_field() -> list[tuple[list, bytes]]:
    """Records carrying a card number where it is refused, in each attribute and field."""
    headers, value = encode_binary(payment_method_added("m", "card"))
    data = json.loads(value)
    long_card = CARD * 30
    records = []
    for name, card in [
        ("ce_specversion", CARD),
        ("ce_id", long_card),
        ("ce_type", CARD),
        ("ce_source", long_card),
        ("ce_subject", long_card),
        ("ce_time", CARD),
    ]:
        changed = [(n, v) for n, v in headers if n != name] + [(name, card.encode())]
        records.append((changed, value))
    for path, card in [
        (("merchant_id",), CARD + " "),
        (("customer_id",), CARD + " "),
        (("customer_name",), long_card),
        (("payment_method", "id"), CARD + " "),
        (("payment_method", "type"), CARD),
        (("payment_method", "brand"), long_card),
        (("payment_method", "last4"), CARD),
        (("channel",), CARD),
        (("use_for_autopay",), CARD),
        (("portal_settings_version",), int(CARD)),
        (("portal_settings_version",), CARD),
    ]:
        changed = json.loads(value)
        target = changed
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = card
        records.append((headers, json.dumps(changed).encode()))
    records.append((headers, json.dumps({**data, CARD: CARD}).encode()[:-1]))
    return records


async def test_a_card_number_in_any_attribute_or_field_is_never_repeated(config, caplog):
    caplog.set_level(logging.DEBUG)
    # As `configure_logging` has it: aiokafka's DEBUG lines quote every record sent.
    caplog.set_level(logging.INFO, logger="aiokafka")
    hostile = card_in_every_attribute_and_field()
    after = payment_method_added("m", "after")
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
        producer(config) as client,
    ):
        for headers, value in hostile:
            await publish_raw(
                config, PAYMENT_METHOD_ADDED_TOPIC, value, headers=headers, key="m", client=client
            )
        await publish(config, after, client=client)
        dead_letters = await dead.wait_for(len(hostile), timeout=30)
        await choices.wait_for(1)

    errors = [header(record, "dlq_error") for record in dead_letters]
    assert [error for error in errors if CARD in error] == []
    assert CARD not in caplog.text


async def test_each_subscription_dead_letters_name_its_group_and_keep_the_record_time(config):
    long_ago = 1_600_000_000_000
    async with autopay_in_process(config), producer(config) as client:
        for topic in (SETTINGS_CHANGED_TOPIC, PAYMENT_METHOD_ADDED_TOPIC):
            await client.send_and_wait(
                config.topic(topic), value=b"not json", key=b"m", timestamp_ms=long_ago
            )
        async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead:
            dead_letters = await dead.wait_for(2)
        await publish(config, settings_changed("m", 1))

    groups = {
        header(record, "dlq_original_topic"): header(record, "dlq_consumer_group")
        for record in dead_letters
    }
    assert groups == {
        config.topic(SETTINGS_CHANGED_TOPIC): settings_group(config),
        config.topic(PAYMENT_METHOD_ADDED_TOPIC): payment_methods_group(config),
    }
    assert [record.timestamp for record in dead_letters] == [long_ago, long_ago]
