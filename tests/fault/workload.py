"""What every fault scenario streams: merchants with a mix of settings, and ≥ 5,000 events."""

import random
from dataclasses import dataclass

from services.common.contract import (
    Notification,
    PaymentMethod,
    PaymentMethodAdded,
    PortalSettings,
    PortalSettingsChanged,
)
from services.common.envelope import CloudEvent, new_event

EVENTS = 5_000


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    # None: the merchant never saved anything (version 0, the defaults).
    settings: PortalSettings | None
    emails: tuple[str, ...] = ()
    locale: str = "en"
    # Saved through the settings API, or announced by a PortalSettingsChanged of our own.
    through_api: bool = True

    def document(self) -> dict:
        """The body of the settings API's PUT."""
        assert self.settings is not None
        return {
            "settings": self.settings.model_dump(),
            "notification": {"emails": list(self.emails), "locale": self.locale},
        }

    def settings_event(self) -> CloudEvent[PortalSettingsChanged]:
        assert self.settings is not None
        data = PortalSettingsChanged(
            merchant_id=self.merchant_id,
            version=1,
            settings=self.settings,
            notification=Notification(emails=list(self.emails), locale=self.locale),
            previous=None,
            changed_by="fault-suite",
        )
        return new_event(data, source="/tests/fault", subject=self.merchant_id)


def _switches(allow: bool, checked: bool, new: bool = False, link: bool = False) -> PortalSettings:
    return PortalSettings(
        allow_customer_autopay_changes=allow,
        default_use_for_autopay_checked=checked,
        auto_enable_autopay_on_new_payment_method=new,
        auto_enable_autopay_on_payment_link=link,
    )


MERCHANTS = (
    Merchant("m-defaults", None),
    Merchant("m-box-checked", _switches(True, True), ("billing@checked.example",)),
    Merchant(
        "m-box-unchecked",
        _switches(True, False),
        ("compta@unchecked.example", "direction@unchecked.example"),
        "fr",
    ),
    Merchant("m-policy-on", _switches(False, False, new=True, link=True), ("ops@on.example",)),
    Merchant("m-policy-off", _switches(False, True), ("ops@off.example",)),
    Merchant("m-no-address", _switches(True, True)),
    Merchant(
        "m-from-event", _switches(True, True), ("events@from-event.example",), through_api=False
    ),
)
# Changed while the stream flows (the switches only: every choice keeps its recipients).
CHANGED_MID_STREAM = "m-box-checked"
MID_STREAM_PATCH = {"settings": {"default_use_for_autopay_checked": False}}

CHANNELS = ("customer_portal",) * 14 + ("payment_link",) * 3 + ("merchant_dashboard", "api")
CUSTOMERS_PER_MERCHANT = 400
PAYMENT_METHODS_PER_CUSTOMER = 2


def payment_methods_added(count: int = EVENTS, *, seed: int = 9) -> list[CloudEvent]:
    """`count` events over a few hundred customers per merchant, so that many payment methods
    are decided more than once and "the last decision wins" is put to the test."""
    pick = random.Random(seed)
    return [_payment_method_added(pick) for _ in range(count)]


def _payment_method_added(pick: random.Random) -> CloudEvent[PaymentMethodAdded]:
    merchant = pick.choice(MERCHANTS)
    channel = pick.choice(CHANNELS)
    shown = channel == "customer_portal" and pick.random() < 0.8
    data = PaymentMethodAdded(
        merchant_id=merchant.merchant_id,
        customer_id=f"cus-{pick.randrange(CUSTOMERS_PER_MERCHANT)}",
        customer_name=pick.choice(("Ada Lovelace", "Grace Hopper", "Émilie du Châtelet")),
        payment_method=PaymentMethod(
            id=f"pm-{pick.randrange(PAYMENT_METHODS_PER_CUSTOMER)}",
            type=pick.choice(("card", "bank_account")),
            brand="visa",
            last4=f"{pick.randrange(10_000):04d}",
        ),
        channel=channel,
        use_for_autopay=pick.random() < 0.5 if shown else None,
        # The version the page showed, when the portal says (every saved merchant has v1).
        portal_settings_version=1 if merchant.settings and pick.random() < 0.5 else None,
    )
    return new_event(data, source="/tests/fault/payments")


def recipients() -> dict[str, tuple[str, ...]]:
    return {merchant.merchant_id: merchant.emails for merchant in MERCHANTS}
