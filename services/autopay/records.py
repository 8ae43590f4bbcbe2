"""The rows autopay keeps: payment profiles (one per customer's payment method) and the
settings versions it decides with."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.common.contract import PaymentMethod, PortalSettings
from services.common.outbox import OutboxRecord

ProfileKey = tuple[str, str, str]  # (merchant_id, customer_id, payment_method_id)
Outgoing = Sequence[tuple[str, OutboxRecord]]  # (input id, outgoing record), in order


@dataclass(slots=True)  # not frozen: one per event, built four times faster
class ProfileRow:
    merchant_id: str
    customer_id: str
    payment_method_id: str
    auto_process: bool
    decided_by: str
    settings_version: int
    caused_by: str
    box_ignored: bool
    settings_fallback: bool
    # The `ce_time` of the event behind the profile: an older event changes nothing.
    source_time: datetime | None
    # What a later AutopayChoiceRecorded (a customer's change) repeats of the added method.
    customer_name: str
    payment_method: PaymentMethod
    channel: str


@dataclass(frozen=True, slots=True)
class StoredProfile:
    payment_method_id: str
    auto_process: bool
    decided_by: str
    settings_version: int
    caused_by: str
    box_ignored: bool
    settings_fallback: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SettingsRow:
    merchant_id: str
    version: int
    settings: PortalSettings
    event_id: str


@dataclass(frozen=True, slots=True)
class Decided:
    """Input events and what deciding them gave, recorded together: the profiles (one per
    payment method, the last decision), the outgoing events, and the late events' ids."""

    event_ids: Sequence[str]
    profiles: Sequence[ProfileRow]
    outgoing: Outgoing
    late_ids: Sequence[str] = ()
