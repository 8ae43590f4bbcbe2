"""What an applied change, a rejection or a removal writes and publishes: values, no I/O."""

from dataclasses import dataclass
from datetime import datetime

from services.autopay.changes import StoredState
from services.autopay.choices import SOURCE, choice_id
from services.autopay.domain import DecidedBy
from services.common.contract import (
    AutopayChangeRejected,
    AutopayChangeRequested,
    AutopayChoiceRecorded,
    Channel,
    PaymentMethod,
    PaymentMethodRemoved,
    RejectionReason,
    Trigger,
    event_type,
)
from services.common.envelope import CloudEvent

ProfileKey = tuple[str, str, str]  # (merchant_id, customer_id, payment_method_id)
Request = CloudEvent[AutopayChangeRequested]
Removed = CloudEvent[PaymentMethodRemoved]


@dataclass(frozen=True, slots=True)
class Details:
    """What every AutopayChoiceRecorded repeats of the payment method's first one."""

    customer_name: str
    payment_method: PaymentMethod
    channel: Channel


@dataclass(frozen=True, slots=True)
class Profile:
    """A stored payment profile as the later changes read it."""

    state: StoredState
    settings_version: int
    details: Details | None  # None for a payment method removed before it was seen


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A profile to write (created for a removal of a payment method not seen yet)."""

    key: ProfileKey
    auto_process: bool
    decided_by: DecidedBy
    trigger: Trigger
    settings_version: int
    caused_by: str
    source_time: datetime | None
    removed_at: datetime | None = None
    settings_fallback: bool = False


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a profile, as the history route shows it."""

    position: int  # newest is highest; pages continue `before` the last one shown
    auto_process: bool
    decided_by: DecidedBy
    trigger: Trigger
    settings_version: int
    removed: bool
    caused_by: str
    recorded_at: datetime


def request_key(data: AutopayChangeRequested | PaymentMethodRemoved) -> ProfileKey:
    return (data.merchant_id, data.customer_id, data.payment_method_id)


def applied(event: Request, version: int, fallback: bool) -> ProfileChange:
    return ProfileChange(
        key=request_key(event.data),
        auto_process=event.data.auto_process,
        decided_by="customer",
        trigger="customer_changed",
        settings_version=version,
        caused_by=event.id,
        source_time=event.time,
        settings_fallback=fallback,
    )


def removed(event: Removed, profile: Profile | None, at: datetime) -> ProfileChange:
    """Removed by the customer in the portal, else by the merchant's side."""
    by: DecidedBy = "customer" if event.data.channel == "customer_portal" else "merchant_policy"
    return ProfileChange(
        key=request_key(event.data),
        auto_process=False,
        decided_by=by,
        trigger="payment_method_removed",
        settings_version=profile.settings_version if profile else 0,
        caused_by=event.id,
        source_time=event.time,
        removed_at=event.time or at,
    )


def choice(change: ProfileChange, details: Details, at: datetime) -> CloudEvent:
    merchant_id, customer_id, _ = change.key
    data = AutopayChoiceRecorded(
        merchant_id=merchant_id,
        customer_id=customer_id,
        customer_name=details.customer_name,
        payment_method=details.payment_method,
        channel=details.channel,
        auto_process=change.auto_process,
        decided_by=change.decided_by,
        box_default_checked=None,
        settings_version=change.settings_version,
        caused_by=change.caused_by,
        trigger=change.trigger,
    )
    return _outgoing(choice_id(change.caused_by), data, at)


def rejection(event: Request, reason: RejectionReason, at: datetime) -> CloudEvent:
    request = event.data
    data = AutopayChangeRejected(
        merchant_id=request.merchant_id,
        customer_id=request.customer_id,
        payment_method_id=request.payment_method_id,
        auto_process=request.auto_process,
        portal_settings_version=request.portal_settings_version,
        requested_by=request.requested_by,
        reason=reason,
        caused_by=event.id,
    )
    # Derived from the request's id, like a choice's: deciding it again gives the same id.
    return _outgoing(choice_id(f"rejected:{event.id}"), data, at)


def _outgoing(event_id: str, data, at: datetime) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        type=event_type(type(data)),
        source=SOURCE,
        subject=f"{data.merchant_id}:{data.customer_id}",
        time=at,
        data=data,
    )
