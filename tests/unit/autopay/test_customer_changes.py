"""Later changes, as tables: a customer's AutoPay request, a removed payment method."""

from datetime import UTC, datetime, timedelta

import pytest

from services.autopay.changes import (
    ChangeDecision,
    Removal,
    StoredState,
    Verdict,
    decide_change,
    decide_removal,
)
from services.common.contract import DEFAULT_PORTAL_SETTINGS

ALLOWED = DEFAULT_PORTAL_SETTINGS.model_copy(update={"allow_customer_autopay_changes": True})
FORBIDDEN = DEFAULT_PORTAL_SETTINGS
T = datetime(2026, 12, 4, 12, tzinfo=UTC)
BEFORE, AFTER = T - timedelta(seconds=1), T + timedelta(seconds=1)

ON = StoredState(auto_process=True, removed=False, source_time=T)
OFF = StoredState(auto_process=False, removed=False, source_time=T)
REMOVED = StoredState(auto_process=False, removed=True, source_time=T)
APPLY, NOTHING, WAIT = (ChangeDecision(v) for v in (Verdict.APPLY, Verdict.NOTHING, Verdict.WAIT))


def rejected(reason: str) -> ChangeDecision:
    return ChangeDecision(Verdict.REJECT, reason)


@pytest.mark.parametrize(
    ("asked", "requested_at", "profile", "settings", "may_wait", "expected"),
    [
        (False, AFTER, ON, ALLOWED, True, APPLY),
        (True, AFTER, OFF, ALLOWED, True, APPLY),
        (True, AFTER, ON, ALLOWED, True, NOTHING),
        (False, AFTER, ON, FORBIDDEN, True, rejected("customer_changes_not_allowed")),
        (True, AFTER, ON, FORBIDDEN, True, rejected("customer_changes_not_allowed")),
        (True, AFTER, None, ALLOWED, True, WAIT),
        (True, AFTER, None, ALLOWED, False, rejected("unknown_payment_method")),
        (True, AFTER, None, FORBIDDEN, False, rejected("unknown_payment_method")),
        (True, AFTER, REMOVED, ALLOWED, True, rejected("payment_method_removed")),
        (False, BEFORE, ON, ALLOWED, True, NOTHING),
        (False, BEFORE, ON, FORBIDDEN, True, NOTHING),
        (False, T, ON, ALLOWED, True, APPLY),
        (False, None, ON, ALLOWED, True, APPLY),
    ],
)
def test_a_change_request_is_applied_only_where_the_merchant_allows_it(
    asked, requested_at, profile, settings, may_wait, expected
):
    assert decide_change(asked, requested_at, profile, settings, may_wait=may_wait) == expected


@pytest.mark.parametrize(
    ("removed_at", "profile", "expected"),
    [
        (AFTER, ON, Removal.END),
        (AFTER, OFF, Removal.QUIET),
        (AFTER, REMOVED, Removal.NOTHING),
        (BEFORE, ON, Removal.NOTHING),
        (AFTER, None, Removal.TOMBSTONE),
        (None, ON, Removal.END),
    ],
)
def test_a_removal_ends_autopay_once_and_remembers_a_method_not_seen_yet(
    removed_at, profile, expected
):
    assert decide_removal(removed_at, profile) == expected
