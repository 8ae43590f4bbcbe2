"""Hostile records of every kind, to mix into a scenario's stream."""

import dataclasses
import json
import random

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from services.common.envelope import Headers, encode_binary
from tests.fault import workload
from tests.fault.stream import Record, valid

# The producer's default limit on one request (aiokafka's `max_request_size`).
MAX_REQUEST_SIZE = 1_048_576
_PICK = random.Random(8)


def poison_records() -> list[Record]:
    """Each kind three times, and one record just under the size limit."""
    return [*(make() for make in KINDS for _ in range(3)), _near_one_mebibyte()]


def mixed(records: list[Record], poison: list[Record], *, seed: int = 8) -> list[Record]:
    """`records` with `poison` spread at random places among them."""
    pick, mixed = random.Random(seed), list(records)
    for record in poison:
        mixed.insert(pick.randrange(len(mixed) + 1), record)
    return mixed


def _event() -> tuple[Headers, dict, bytes]:
    event = workload.payment_methods_added(1, seed=_PICK.randrange(1 << 30))[0]
    headers, value = encode_binary(event)
    return headers, json.loads(value), f"{event.data.merchant_id}:poison".encode()


def _with_data(what: str, change) -> Record:
    headers, data, key = _event()
    change(data)
    return Record(key, json.dumps(data).encode(), headers, poison=what)


def _not_json() -> Record:
    headers, _, key = _event()
    return Record(key, b'{"merchant_id": "m-defaults", ', headers, poison="not JSON")


def _wrong_type() -> Record:
    headers, data, key = _event()
    headers = [(n, b"PortalSettingsChanged" if n == "ce_type" else v) for n, v in headers]
    return Record(key, json.dumps(data).encode(), headers, poison="wrong ce_type")


def _bad_utf8_attribute() -> Record:
    headers, data, key = _event()
    headers = [(n, b"/src\xff\xfe" if n == "ce_source" else v) for n, v in headers]
    return Record(key, json.dumps(data).encode(), headers, poison="non-UTF-8 ce_source")


def _bad_utf8_foreign_header() -> Record:
    """A valid event with a header we never read that is not UTF-8: it must be decided.

    Its customer is its own: built after the stream's events, it carries a later `ce_time`
    than those it is mixed among, which must not make theirs look late.
    """
    event = workload.payment_methods_added(1, seed=_PICK.randrange(1 << 30))[0]
    data = event.data.model_copy(update={"customer_id": f"cus-x-trace-{_PICK.randrange(1 << 30)}"})
    return valid(dataclasses.replace(event, data=data), [("x-trace", b"\xff\xfe\x00trace")])


def _near_one_mebibyte() -> Record:
    """An invalid event (a name far too long) as large as the producer lets through."""
    headers, data, key = _event()
    data["customer_name"] = ""
    base = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, json.dumps(data).encode(), headers)
    data["customer_name"] = "x" * (MAX_REQUEST_SIZE - base - 16)
    return Record(key, json.dumps(data).encode(), headers, poison="a record near 1 MiB")


KINDS = (
    _not_json,
    _wrong_type,
    lambda: _with_data("ill-typed field", lambda d: d.update(use_for_autopay="true")),
    lambda: _with_data("missing field", lambda d: d.pop("customer_id")),
    lambda: _with_data(
        "full card number", lambda d: d["payment_method"].update(last4="4111111111111111")
    ),
    lambda: _with_data("unknown channel", lambda d: d.update(channel="fax")),
    _bad_utf8_attribute,
    _bad_utf8_foreign_header,
)
