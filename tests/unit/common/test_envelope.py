"""The CloudEvents envelope and the contract's validation rules, without any server."""

import json

import pytest

from services.common.contract import (
    AutopayChoiceRecorded,
    PaymentMethod,
    PaymentMethodAdded,
    PortalSettingsChanged,
    record_key,
)
from services.common.envelope import (
    STRUCTURED_CONTENT_TYPE,
    InvalidEvent,
    decode,
    encode_binary,
    new_event,
    to_json,
)


def payment_method_added(**changes) -> dict:
    data = {
        "merchant_id": "m_1",
        "customer_id": "c-42",
        "customer_name": "Ada Lovelace",
        "payment_method": {"id": "pm_1", "type": "card", "brand": "visa", "last4": "4242"},
        "channel": "customer_portal",
        "use_for_autopay": False,
        "portal_settings_version": 3,
    }
    return data | changes


def binary_headers(event_type: str = "PaymentMethodAdded") -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/json"),
        ("ce_specversion", b"1.0"),
        ("ce_id", b"evt-1"),
        ("ce_type", event_type.encode()),
        ("ce_source", b"/payments"),
        ("ce_time", b"2026-11-25T10:00:00Z"),
    ]


def test_an_event_survives_a_binary_mode_round_trip():
    event = new_event(
        PaymentMethodAdded.model_validate(payment_method_added()),
        source="/test",
        subject="merchants/m_1/customers/c-42",
    )
    headers, value = encode_binary(event)
    decoded = decode(headers, value, PaymentMethodAdded)
    assert decoded.id == event.id
    assert decoded.subject == "merchants/m_1/customers/c-42"
    assert decoded.data == event.data
    assert dict(headers)["content-type"] == b"application/json"
    assert json.loads(value)["payment_method"]["last4"] == "4242"


def test_structured_mode_from_other_producers_is_accepted():
    event = new_event(PaymentMethodAdded.model_validate(payment_method_added()), source="/test")
    decoded = decode(
        [("content-type", f"{STRUCTURED_CONTENT_TYPE}; charset=utf-8".encode())],
        to_json(event).encode(),
        PaymentMethodAdded,
    )
    assert (decoded.id, decoded.data) == (event.id, event.data)


def test_a_record_without_ce_headers_is_structured_whatever_its_content_type():
    event = new_event(PaymentMethodAdded.model_validate(payment_method_added()), source="/test")
    for headers in ([], [("content-type", b"application/json")]):
        decoded = decode(headers, to_json(event).encode(), PaymentMethodAdded)
        assert (decoded.id, decoded.data) == (event.id, event.data)


def test_a_record_with_ce_headers_is_binary_whatever_its_content_type():
    headers = [
        (n, STRUCTURED_CONTENT_TYPE.encode() if n == "content-type" else v)
        for n, v in binary_headers()
    ]
    value = json.dumps(payment_method_added()).encode()
    assert decode(headers, value, PaymentMethodAdded).id == "evt-1"


def test_headers_other_than_the_attributes_are_never_read():
    headers = [*binary_headers(), ("x-trace", b"\xff\xfe"), ("content-type", b"\xff")]
    value = json.dumps(payment_method_added()).encode()
    assert decode(headers, value, PaymentMethodAdded).id == "evt-1"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([("ce_specversion", b"4111111111111111")], "specversion: must be 1.0"),
        ([("ce_type", b"4111111111111111")], "type: must be PaymentMethodAdded"),
    ],
)
def test_a_wrong_attribute_is_named_with_its_rule_not_its_value(headers, reason):
    names = {name for name, _ in headers}
    headers = [(n, v) for n, v in binary_headers() if n not in names] + headers
    with pytest.raises(InvalidEvent) as caught:
        decode(headers, json.dumps(payment_method_added()).encode(), PaymentMethodAdded)
    assert str(caught.value) == reason


def test_an_invalid_email_address_is_refused_without_being_quoted():
    data = {
        "merchant_id": "m_1",
        "version": 1,
        "settings": {
            "allow_customer_autopay_changes": True,
            "auto_enable_autopay_on_new_payment_method": False,
            "default_use_for_autopay_checked": True,
            "auto_enable_autopay_on_payment_link": False,
        },
        "notification": {"emails": ["4111111111111111@"], "locale": "fr"},
        "previous": None,
        "changed_by": "alice",
    }
    with pytest.raises(InvalidEvent) as caught:
        decode(
            binary_headers("PortalSettingsChanged"),
            json.dumps(data).encode(),
            PortalSettingsChanged,
        )
    assert str(caught.value).startswith("notification.emails.0: ")
    assert "4111" not in str(caught.value)


def test_unknown_fields_are_ignored_for_forward_compatibility():
    value = json.dumps(payment_method_added(loyalty_tier="gold")).encode()
    assert decode(binary_headers(), value, PaymentMethodAdded).data.customer_id == "c-42"


@pytest.mark.parametrize(
    ("change", "named_field"),
    [
        ({"merchant_id": "m 1"}, "merchant_id"),
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"channel": "fax"}, "channel"),
        ({"use_for_autopay": "true"}, "use_for_autopay"),
        ({"portal_settings_version": -1}, "portal_settings_version"),
    ],
)
def test_ill_typed_or_malformed_fields_are_invalid(change, named_field):
    value = json.dumps(payment_method_added(**change)).encode()
    with pytest.raises(InvalidEvent, match=named_field):
        decode(binary_headers(), value, PaymentMethodAdded)


def test_a_missing_required_field_is_invalid():
    data = payment_method_added()
    del data["customer_name"]
    with pytest.raises(InvalidEvent, match="customer_name: Field required"):
        decode(binary_headers(), json.dumps(data).encode(), PaymentMethodAdded)


def test_a_full_card_number_is_rejected_without_being_repeated():
    data = payment_method_added()
    data["payment_method"]["last4"] = "4111111111111111"
    with pytest.raises(InvalidEvent) as caught:
        decode(binary_headers(), json.dumps(data).encode(), PaymentMethodAdded)
    assert "payment_method.last4" in str(caught.value)
    assert "4111" not in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        (binary_headers(), b"{not json", "Invalid JSON"),
        (binary_headers("AutopayChoiceRecorded"), None, "type: must be PaymentMethodAdded"),
        ([("content-type", b"application/json")], None, "specversion: Field required"),
        ([("content-type", STRUCTURED_CONTENT_TYPE.encode())], b"[]", "Input should be"),
        (
            [(name, b"\xff\xfe" if name == "ce_id" else raw) for name, raw in binary_headers()],
            None,
            "id: Input should be a valid string",
        ),
    ],
)
def test_records_that_are_not_cloudevents_of_the_expected_type_are_invalid(headers, value, reason):
    value = value if value is not None else json.dumps(payment_method_added()).encode()
    with pytest.raises(InvalidEvent, match=reason):
        decode(headers, value, PaymentMethodAdded)


def test_keys_keep_one_merchants_settings_and_one_customers_events_in_order():
    settings = PortalSettingsChanged.model_validate(
        {
            "merchant_id": "m_1",
            "version": 1,
            "settings": {
                "allow_customer_autopay_changes": True,
                "auto_enable_autopay_on_new_payment_method": False,
                "default_use_for_autopay_checked": True,
                "auto_enable_autopay_on_payment_link": False,
            },
            "notification": {"emails": ["ops@example.com"], "locale": "fr"},
            "previous": None,
            "changed_by": "alice",
        }
    )
    choice = AutopayChoiceRecorded(
        merchant_id="m_1",
        customer_id="c-42",
        customer_name="Ada",
        payment_method=PaymentMethod(id="pm_1", type="bank_account", last4="6789"),
        channel="customer_portal",
        auto_process=True,
        decided_by="customer",
        box_default_checked=True,
        settings_version=1,
        caused_by="evt-1",
    )
    assert record_key(settings) == "m_1"
    assert record_key(choice) == "m_1:c-42"
