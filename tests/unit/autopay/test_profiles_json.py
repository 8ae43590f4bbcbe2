"""The profiles travel to PostgreSQL as JSON written from their schema (`_PROFILES_JSON`):
the same text `as_json` writes, whatever the values."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.autopay.records import ProfileRow
from services.autopay.repository import _PROFILES_JSON
from services.common.contract import PaymentMethod
from services.common.db import as_json


def profile(**changes) -> ProfileRow:
    values = dict(
        merchant_id="m-1",
        customer_id="c-1",
        payment_method_id="pm-1",
        auto_process=True,
        decided_by="customer",
        settings_version=3,
        caused_by="e-1",
        box_ignored=False,
        settings_fallback=False,
        source_time=datetime(2026, 12, 5, 3, 4, 5, 678901, tzinfo=UTC),
        customer_name="Zoé “Ω” O'Brien\\",
        payment_method=PaymentMethod(id="pm-1", type="card", brand="visa", last4="4242"),
        channel="customer_portal",
    )
    return ProfileRow(**(values | changes))


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [profile()],
        [
            profile(source_time=None),
            profile(
                payment_method=PaymentMethod(id="pm-2", type="bank_account", last4="0001"),
                source_time=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
                auto_process=False,
            ),
        ],
        [profile(customer_name="a\x00b\x1f\u2028" + "é" * 200)],
    ],
    ids=["none", "one", "no time, no brand, another zone", "control characters, long"],
)
def test_the_profiles_json_is_what_as_json_writes(rows):
    assert _PROFILES_JSON.dump_json(rows).decode() == as_json(rows)
