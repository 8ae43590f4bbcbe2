"""Our FastStream decoder: a batch of records becomes typed events, and never raises."""

import json

from aiokafka import ConsumerRecord

from services.common.contract import PaymentMethodAdded
from services.common.decoding import decode_batch
from tests.unit.common.test_envelope import binary_headers, payment_method_added


def record(offset: int, headers: list[tuple[str, bytes]], value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        topic="payments.payment_method.added",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"m_1:c-42",
        value=value,
        checksum=None,
        serialized_key_size=8,
        serialized_value_size=len(value),
        headers=headers,
    )


VALID = json.dumps(payment_method_added()).encode()


def test_valid_records_become_typed_events_with_their_records():
    records = [record(0, binary_headers(), VALID), record(1, binary_headers(), VALID)]
    batch = decode_batch(records, PaymentMethodAdded)
    assert [(r.offset, type(e.data)) for r, e in batch.events] == [
        (0, PaymentMethodAdded),
        (1, PaymentMethodAdded),
    ]
    assert batch.invalid == []


def test_poison_records_come_out_invalid_with_the_reason_and_the_batch_goes_on():
    not_utf8 = [*binary_headers()[:-1], ("ce_time", b"\xff\xfe")]
    records = [
        record(0, binary_headers(), b"not json"),
        record(1, not_utf8, VALID),
        record(2, binary_headers("PortalSettingsChanged"), VALID),
        record(3, binary_headers(), VALID),
    ]
    batch = decode_batch(records, PaymentMethodAdded)
    assert [r.offset for r, _ in batch.events] == [3]
    reasons = {r.offset: reason for r, reason in batch.invalid}
    assert set(reasons) == {0, 1, 2}
    assert "json" in reasons[0].lower()
    assert reasons[1].startswith("time:")
    assert reasons[2] == "type: must be PaymentMethodAdded"


def test_a_header_we_never_read_may_hold_any_bytes():
    records = [record(0, [*binary_headers(), ("x-trace", b"\xff\xfe")], VALID)]
    assert len(decode_batch(records, PaymentMethodAdded).events) == 1
