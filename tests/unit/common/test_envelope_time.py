"""An event without `ce_time` keeps no time: rules comparing times fall back to arrival order."""

import json

from services.common.contract import PaymentMethodAdded
from services.common.envelope import decode, encode_binary, to_json
from tests.unit.common.test_envelope import binary_headers, payment_method_added


def test_an_event_without_ce_time_is_decoded_without_a_time_and_published_without_one():
    headers = [(name, raw) for name, raw in binary_headers() if name != "ce_time"]
    event = decode(headers, json.dumps(payment_method_added()).encode(), PaymentMethodAdded)

    assert event.time is None
    assert "ce_time" not in dict(encode_binary(event)[0])
    assert "time" not in json.loads(to_json(event))


def test_an_event_with_ce_time_keeps_it():
    event = decode(
        binary_headers(), json.dumps(payment_method_added()).encode(), PaymentMethodAdded
    )

    assert event.time is not None and event.time.isoformat() == "2026-11-25T10:00:00+00:00"
