"""What the operators' tools print, without a broker: readable, safe for a terminal, never a card
number; and an invalid event refused before anything is sent."""

import pytest
from aiokafka import ConsumerRecord

from services.cli import main
from services.common.config import Config
from services.common.contract import PaymentMethodAdded
from services.common.envelope import encode_binary
from services.common.kafka import UNREADABLE_VALUE
from services.operators.display import event_line, readable
from services.operators.dlq import Unreplayable, replay, summary_line
from tests.integration.autopay.events import payment_method_added


def record(value: bytes, headers: list[tuple[str, bytes]], key: bytes = b"m:c") -> ConsumerRecord:
    return ConsumerRecord(
        topic="payments.payment_method.added",
        partition=2,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=headers,
    )


def test_an_event_line_has_the_position_type_id_key_and_main_fields():
    event = payment_method_added("m", "c", box=False, version=3)
    line = event_line(record(*reversed(encode_binary(event))), PaymentMethodAdded)
    assert line == (
        f"2:7  PaymentMethodAdded  id={event.id}  key=m:c  merchant_id=m customer_id=c "
        "channel=customer_portal use_for_autopay=false portal_settings_version=3 "
        "payment_method=pm_1/card/visa/4242"
    )


def test_an_invalid_record_is_a_line_with_the_reason_and_never_the_rejected_value():
    headers, value = encode_binary(payment_method_added("m", "c"))
    full_card = value.replace(b'"4242"', b'"4242424242424242"')
    line = event_line(record(full_card, headers), PaymentMethodAdded)
    assert line.startswith("2:7  INVALID  key=m:c  payment_method.last4: ")
    assert "4242424242424242" not in line


def test_control_characters_and_invalid_utf8_are_escaped_and_card_numbers_masked():
    assert readable(b"Eve\r\nBcc: x\x1b[31m\xff") == "Eve\\r\\nBcc: x\\x1b[31m\\xff"
    assert readable(b'{"last4": "4111111111111111"}') == '{"last4": "••••••••••••1111"}'
    assert readable(b"pm_123456789") == "pm_123456789"  # nine digits: not a card number
    assert readable(None) == "null"


def test_publishing_an_invalid_event_fails_with_the_field_and_rule_and_sends_nothing(capsys):
    with pytest.raises(SystemExit) as exit_code:
        main(
            [
                *("events", "publish", "payment-method-added"),
                *("--merchant", "m", "--customer", "c", "--last4", "4242424242424242"),
            ]
        )
    assert exit_code.value.code == 2
    error = capsys.readouterr().err
    assert "payment_method.last4: " in error
    assert "4242424242424242" not in error


def test_a_record_without_dlq_headers_on_a_dlq_topic_is_said_to_be_no_dead_letter():
    assert summary_line(record(b"x", [])) == "2:7  not a dead letter (no dlq_original_topic header)"


async def test_an_unreadable_records_dead_letter_is_not_replayed_and_says_where_to_read_it():
    letter = record(
        UNREADABLE_VALUE,
        [
            ("dlq_original_topic", b"payments.payment_method.added"),
            ("dlq_original_partition", b"2"),
            ("dlq_original_offset", b"41"),
            ("dlq_error", b"unreadable record: UnicodeDecodeError"),
            ("dlq_unreadable", b"true"),
        ],
        key=b"",
    )

    with pytest.raises(Unreplayable, match=r"payments.payment_method.added\[2\]@41 as it is"):
        async for _ in replay(Config(_env_file=None), [letter]):
            pass
