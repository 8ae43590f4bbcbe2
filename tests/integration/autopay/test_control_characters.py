"""A producer's event with control characters is dead-lettered at autopay, not downstream."""

import json

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
)
from tests.support import TopicReader, header, producer, publish, publish_raw


def with_changes(customer_id: str, change) -> tuple[list, bytes]:
    """The headers of a valid event, and its data altered by `change`."""
    headers, value = encode_binary(payment_method_added("m", customer_id, box=True))
    data = json.loads(value)
    change(data)
    return headers, json.dumps(data).encode()


async def test_nul_or_a_line_break_in_a_string_field_dead_letters_the_event_at_autopay(config):
    def nul_in_brand(data):
        data["payment_method"]["brand"] = "Vi\x00sa"

    def line_break_in_name(data):
        data["customer_name"] = "Eve\r\nBcc: thief@example.com"

    good = payment_method_added("m", "good", box=True)
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
        producer(config) as client,
    ):
        for customer, change in [("nul", nul_in_brand), ("crlf", line_break_in_name)]:
            headers, value = with_changes(customer, change)
            await publish_raw(
                config,
                PAYMENT_METHOD_ADDED_TOPIC,
                value,
                headers=headers,
                key=f"m:{customer}",
                client=client,
            )
        await publish(config, good, client=client)
        dead_letters = await dead.wait_for(2)
        await choices.wait_for(1)
        decided = choices_by_cause(await choices.settle())

    assert set(decided) == {good.id}
    errors = {record.key.decode(): header(record, "dlq_error") for record in dead_letters}
    assert "payment_method.brand" in errors["m:nul"]
    assert "customer_name" in errors["m:crlf"]
    for error in errors.values():
        assert "control character" in error
        assert "\x00" not in error and "Bcc" not in error and "Vi" not in error


async def test_an_event_id_with_a_control_character_is_dead_lettered_and_a_long_one_decided(
    config,
):
    tab_in_id = payment_method_added("m", "tab", box=True)
    tab_in_id.id = "evt\t1"
    long_id = payment_method_added("m", "long", box=True)
    long_id.id = "e" * 400
    after = payment_method_added("m", "after", box=True)
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
        producer(config) as client,
    ):
        await publish(config, tab_in_id, long_id, after, client=client)
        [dead_letter] = await dead.wait_for(1)
        await choices.wait_for(2)
        decided = choices_by_cause(await choices.settle())

    assert set(decided) == {long_id.id, after.id}
    assert dead_letter.key == b"m:tab"
    assert "id: must not contain control characters" in header(dead_letter, "dlq_error")
