"""The rules of later changes: a customer's AutoPay request, a removed payment method.

Pure functions over values, like `domain.py`: every row of their tables is a unit test.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.autopay.domain import is_late
from services.common.contract import PortalSettings, RejectionReason


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the rules need of a stored payment profile."""

    auto_process: bool
    removed: bool
    # The `ce_time` of the event behind the profile: an older event changes nothing.
    source_time: datetime | None


class Verdict(StrEnum):
    APPLY = "apply"  # the profile takes the new value; one AutopayChoiceRecorded
    REJECT = "reject"  # the profile is untouched; one AutopayChangeRejected says why
    WAIT = "wait"  # the payment method is not known yet: park until it is, or the bound
    NOTHING = "nothing"  # late, or the value is stored already: no change, no event


@dataclass(frozen=True, slots=True)
class ChangeDecision:
    verdict: Verdict
    reason: RejectionReason | None = None


def decide_change(
    asked: bool,
    requested_at: datetime | None,
    profile: StoredState | None,
    settings: PortalSettings,
    *,
    may_wait: bool,
) -> ChangeDecision:
    """A customer asks for AutoPay `asked` on a saved payment method.

    `settings`: the version the request names, else the latest. A request for a payment
    method not seen yet waits for its PaymentMethodAdded (the topics are not ordered with
    each other) while `may_wait`, then is rejected. The switch is checked before the stored
    value, so a forged request learns nothing and changes nothing.
    """
    if profile is None:
        if may_wait:
            return ChangeDecision(Verdict.WAIT)
        return ChangeDecision(Verdict.REJECT, "unknown_payment_method")
    if is_late(requested_at, profile.source_time):
        return ChangeDecision(Verdict.NOTHING)
    if profile.removed:
        return ChangeDecision(Verdict.REJECT, "payment_method_removed")
    if not settings.allow_customer_autopay_changes:
        return ChangeDecision(Verdict.REJECT, "customer_changes_not_allowed")
    if profile.auto_process == asked:
        return ChangeDecision(Verdict.NOTHING)
    return ChangeDecision(Verdict.APPLY)


class Removal(StrEnum):
    TOMBSTONE = "tombstone"  # not seen yet: remember it removed, so a late add stays out
    END = "end"  # removed; AutoPay was on: one AutopayChoiceRecorded (auto_process off)
    QUIET = "quiet"  # removed; AutoPay was off already: no event
    NOTHING = "nothing"  # removed already, or late


def decide_removal(removed_at: datetime | None, profile: StoredState | None) -> Removal:
    """A payment method is removed: its profile is kept for the audit trail, marked removed
    with AutoPay off."""
    if profile is None:
        return Removal.TOMBSTONE
    if profile.removed or is_late(removed_at, profile.source_time):
        return Removal.NOTHING
    return Removal.END if profile.auto_process else Removal.QUIET
