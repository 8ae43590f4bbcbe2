"""The AutoPay rules: which settings version applies, and what a new payment method gets.

Pure functions over values: no I/O, so every row of the decision table is a unit test.
"""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from services.common.contract import DEFAULT_PORTAL_SETTINGS, PortalSettings

DEFAULTS_VERSION = 0

K = TypeVar("K", bound=Hashable)

DecidedBy = Literal["customer", "merchant_policy"]

# Payment methods saved here never show the portal's box: portal settings do not apply.
CHANNELS_WITHOUT_PORTAL_SETTINGS = frozenset({"merchant_dashboard", "api"})


@dataclass(frozen=True, slots=True)
class Decision:
    auto_process: bool
    decided_by: DecidedBy
    # The box's default state when the customer decided; None for a merchant-policy decision.
    box_default_checked: bool | None
    # A box value arrived although no box could have been shown: ignored, and counted.
    box_ignored: bool = False


def decide(channel: str, settings: PortalSettings, box: bool | None) -> Decision | None:
    """The decision table of the README; None when portal settings do not apply (no change).

    A box value is only trusted when the portal showed the box (customers may change
    AutoPay): a forged value must never switch AutoPay on.
    """
    if channel in CHANNELS_WITHOUT_PORTAL_SETTINGS:
        return None
    if channel == "payment_link":
        return Decision(
            settings.auto_enable_autopay_on_payment_link,
            "merchant_policy",
            None,
            box_ignored=box is not None,
        )
    if settings.allow_customer_autopay_changes:
        chosen = settings.default_use_for_autopay_checked if box is None else box
        return Decision(chosen, "customer", settings.default_use_for_autopay_checked)
    return Decision(
        settings.auto_enable_autopay_on_new_payment_method,
        "merchant_policy",
        None,
        box_ignored=box is not None,
    )


@dataclass(frozen=True, slots=True)
class AppliedSettings:
    version: int
    settings: PortalSettings
    # The version the page was rendered with never arrived in time: the latest was used.
    fallback: bool = False


def applicable_settings(
    requested: int | None, known: Mapping[int, PortalSettings]
) -> AppliedSettings:
    """S: the requested version if known, else the latest known one, else the defaults.

    `known` holds versions of one merchant only (settings never cross merchants), at least
    its latest one. Version 0 always means the defaults, whatever was saved since.
    """
    if requested == DEFAULTS_VERSION:
        return AppliedSettings(DEFAULTS_VERSION, DEFAULT_PORTAL_SETTINGS)
    if requested is not None and requested in known:
        return AppliedSettings(requested, known[requested])
    fallback = requested is not None
    if not known:
        return AppliedSettings(DEFAULTS_VERSION, DEFAULT_PORTAL_SETTINGS, fallback)
    latest = max(known)
    return AppliedSettings(latest, known[latest], fallback)


def needs_settings(channel: str) -> bool:
    return channel not in CHANNELS_WITHOUT_PORTAL_SETTINGS


def is_late(event_time: datetime | None, current_time: datetime | None) -> bool:
    """An event older than the one behind the current state changes nothing.

    A replay, a re-send from the DLQ or a delayed record must not put an old choice back.
    Equal times, and a time missing on either side, keep the order of arrival: not late.
    """
    return event_time is not None and current_time is not None and event_time < current_time


def late_events(
    events: Iterable[tuple[K, datetime | None]], current: Mapping[K, datetime | None]
) -> list[bool]:
    """Which of `events` (key, time), in arrival order, are late: against the time behind
    each key's stored state (`current`), then against the events before it that applied."""
    behind = dict(current)
    late = []
    for key, time in events:
        late.append(is_late(time, behind.get(key)))
        if not late[-1]:
            behind[key] = time
    return late
