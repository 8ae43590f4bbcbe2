"""The published JSON Schemas and the models give the same verdict on every document.

Other teams validate against `schemas/`; our consumers validate with the models. A document
one accepts and the other refuses is either a producer's event dead-lettered although it
passed the schema, or a value the database refuses later. One corpus, both judges.
"""

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from services.common.contract import EVENT_TOPICS, ContractModel, event_type

SCHEMAS = Path(__file__).parents[3] / "schemas"

SETTINGS = {
    "allow_customer_autopay_changes": True,
    "auto_enable_autopay_on_new_payment_method": False,
    "default_use_for_autopay_checked": True,
    "auto_enable_autopay_on_payment_link": False,
}
PAYMENT_METHOD = {"id": "pm_1", "type": "card", "brand": "visa", "last4": "4242"}
VALID = {
    "PortalSettingsChanged": {
        "merchant_id": "m_1",
        "version": 3,
        "settings": SETTINGS,
        "notification": {"emails": ["ops@example.com", "a.b+c@x-y.example.org"], "locale": "fr"},
        "previous": SETTINGS,
        "changed_by": "marie@shop.example",
    },
    "PaymentMethodAdded": {
        "merchant_id": "m_1",
        "customer_id": "c-7",
        "customer_name": "Ada Lovelace",
        "payment_method": PAYMENT_METHOD,
        "channel": "customer_portal",
        "use_for_autopay": True,
        "portal_settings_version": 2,
    },
    "AutopayChoiceRecorded": {
        "merchant_id": "m_1",
        "customer_id": "c-7",
        "customer_name": "Ada Lovelace",
        "payment_method": PAYMENT_METHOD,
        "channel": "payment_link",
        "auto_process": False,
        "decided_by": "customer",
        "box_default_checked": True,
        "settings_version": 0,
        "caused_by": "4b0f6c52-3f0e-4a0e-9d55-5a8f7c0e2a11",
        "trigger": "customer_changed",
    },
    "AutopayChangeRequested": {
        "merchant_id": "m_1",
        "customer_id": "c-7",
        "payment_method_id": "pm_1",
        "auto_process": False,
        "portal_settings_version": 2,
        "requested_by": "ada@customer.example",
    },
    "PaymentMethodRemoved": {
        "merchant_id": "m_1",
        "customer_id": "c-7",
        "payment_method_id": "pm_1",
        "channel": "customer_portal",
    },
    "AutopayChangeRejected": {
        "merchant_id": "m_1",
        "customer_id": "c-7",
        "payment_method_id": "pm_1",
        "auto_process": True,
        "portal_settings_version": None,
        "requested_by": "ada@customer.example",
        "reason": "customer_changes_not_allowed",
        "caused_by": "4b0f6c52-3f0e-4a0e-9d55-5a8f7c0e2a11",
    },
}

INT4_MAX = 2**31 - 1
NUMBERS = [0, 1, -1, INT4_MAX, INT4_MAX + 1, 2**40, -(2**31), 1.0, 2.0, 1.5, -0.0, 1e300]
NOT_NUMBERS = ["1", True, False, None, [], {}]
BOOLEANS = [True, False, "true", "false", 1, 0, 1.0, None, "", []]
CONTROL = ["\x00", "\x01", "\t", "\n", "\r\n", "\x1b", "\x7f", "\x85", "\x9f"]
FORMAT = ["\u202e", "\u2066", "\u200f", "\u00a0", "\u2028", "é", "😀"]
STRINGS = [
    "",
    " ",
    "x",
    *("x" * n for n in (4, 40, 41, 64, 65, 200, 201, 254, 255)),
    "4242424242424242",
    "customer_portal",
    "a@b",
    "josé@exämple.com",
    "ops@xn--exmple-cua.com",
    "ops@@example.com",
    ".ops@example.com",
    "ops@-example.com",
    "ops@example.com\n",
    5,
    5.0,
    True,
    None,
    [],
]


def leaves(document: object, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from leaves(value, (*path, index))
    yield path, document


def replaced(document: dict, path: tuple, value: object) -> dict:
    copied = copy.deepcopy(document)
    if not path:
        return value
    parent = copied
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return copied


def removed(document: dict, path: tuple) -> dict:
    copied = copy.deepcopy(document)
    parent = copied
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return copied


def variants(value: object) -> list[object]:
    """What a producer might send instead of `value`: boundaries, wrong types, odd characters."""
    if isinstance(value, bool):
        return BOOLEANS
    if isinstance(value, int):
        return NUMBERS + NOT_NUMBERS
    if isinstance(value, str):
        odd = [value + c for c in CONTROL + FORMAT] + [c + value for c in ("\x00", "\u202e")]
        longer = [value + "x" * n for n in (1, 40, 200)]
        return [*STRINGS, *odd, *longer, value.upper()]
    if isinstance(value, list):
        return [[], value * 5, value * 6, [*value, value[0]], [None], "ops@example.com"]
    if isinstance(value, dict):
        return [None, [], "{}", {}, {**value, "unknown_field": "ignored"}]
    return [None]


def corpus(valid: dict) -> Iterator[tuple[str, object]]:
    yield "valid", valid
    for whole in ([], "x", None, 1, {}):
        yield f"document {whole!r}", whole
    for path, value in leaves(valid):
        if path:
            if not isinstance(path[-1], int):
                yield f"{path} missing", removed(valid, path)
            for variant in variants(value):
                yield f"{path} = {variant!r}", replaced(valid, path, variant)


def schema_verdict(validator: Draft202012Validator, document: object) -> bool:
    return validator.is_valid(json.loads(json.dumps(document)))


def model_verdict(model: type[ContractModel], document: object) -> bool:
    # As the consumers read an event: from the record's JSON bytes.
    try:
        model.model_validate_json(json.dumps(document))
    except ValidationError:
        return False
    return True


def judges(model: type[ContractModel]):
    schema = json.loads((SCHEMAS / f"{event_type(model)}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return lambda document: (schema_verdict(validator, document), model_verdict(model, document))


@pytest.mark.parametrize("model", list(EVENT_TOPICS), ids=event_type)
def test_the_exported_schema_and_the_model_give_the_same_verdict_on_every_document(model):
    judge = judges(model)
    disagreements = [
        f"{name}: schema {'accepts' if schema else 'refuses'}, model "
        f"{'accepts' if accepted else 'refuses'}"
        for name, document in corpus(VALID[event_type(model)])
        for schema, accepted in [judge(document)]
        if schema != accepted
    ]
    assert disagreements == []


def with_method(**changes: object) -> dict:
    document = VALID["PaymentMethodAdded"]
    return {**document, "payment_method": {**document["payment_method"], **changes}}


@pytest.mark.parametrize(
    ("model", "document", "valid"),
    [
        ("PortalSettingsChanged", {"version": 1.0}, True),
        ("PortalSettingsChanged", {"version": INT4_MAX}, True),
        ("PortalSettingsChanged", {"version": INT4_MAX + 1}, False),
        ("PortalSettingsChanged", {"version": 2**40}, False),
        ("PortalSettingsChanged", {"version": 1.5}, False),
        ("PortalSettingsChanged", {"version": 0}, False),
        ("PortalSettingsChanged", {"version": "1"}, False),
        ("PortalSettingsChanged", {"changed_by": "ops\r\nBcc: x@example.com"}, False),
        ("PortalSettingsChanged", {"notification": {"emails": ["josé@exämple.com"]}}, False),
        ("PaymentMethodAdded", {"portal_settings_version": 0}, True),
        ("PaymentMethodAdded", {"portal_settings_version": 2**40}, False),
        ("PaymentMethodAdded", {"use_for_autopay": "true"}, False),
        ("PaymentMethodAdded", {"customer_name": "Ada\x00"}, False),
        ("PaymentMethodAdded", {"customer_name": "Ada\u202eecalovoL"}, True),
        ("PaymentMethodAdded", {"customer_name": "x" * 201}, False),
        ("PaymentMethodAdded", {"merchant_id": "m_1\n"}, False),
        ("PaymentMethodAdded", with_method(brand="Vi\x00sa"), False),
        ("PaymentMethodAdded", with_method(brand="Visa\r\n"), False),
        ("PaymentMethodAdded", with_method(last4="4242\n"), False),
        ("AutopayChoiceRecorded", {"settings_version": INT4_MAX}, True),
        ("AutopayChoiceRecorded", {"settings_version": INT4_MAX + 1}, False),
        ("AutopayChoiceRecorded", {"caused_by": "id\x7f"}, False),
    ],
)
def test_both_judges_give_the_expected_verdict_on_the_telling_cases(model, document, valid):
    merged = {**VALID[model], **document}
    if "notification" in document:
        merged["notification"] = {**VALID[model]["notification"], **document["notification"]}
    judge = judges(next(m for m in EVENT_TOPICS if event_type(m) == model))
    assert judge(merged) == (valid, valid)
