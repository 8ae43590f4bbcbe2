"""The notifier's rules, as pure functions: which email a choice calls for, and its facts.

Nothing here does I/O. The templates turn `EmailFacts` into words; the sender turns words
into messages; this module decides what is said and to whom.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.contract import AutopayChoiceRecorded, PaymentMethod

LOCALES = ("en", "fr")


class Template(StrEnum):
    ENROLLED = "enrolled"  # a new payment method, the box left checked
    DECLINED = "declined"  # a new payment method, the box unchecked
    TURNED_ON = "turned_on"  # the customer turned AutoPay on later, in the portal
    TURNED_OFF = "turned_off"  # the customer turned AutoPay off later


class Outcome(StrEnum):
    """What became of one AutopayChoiceRecorded; recorded once per event id."""

    ENROLLED = "enrolled"
    DECLINED = "declined"
    TURNED_ON = "turned_on"
    TURNED_OFF = "turned_off"
    MERCHANT_POLICY = "merchant_policy"
    REMOVED = "removed"
    NO_RECIPIENT = "no_recipient"


def template_for(choice: AutopayChoiceRecorded) -> Template | None:
    """The seed's rule: an email for each choice the customer made — leaving the box checked
    or unchecking it, or turning AutoPay on or off later in the portal.

    A decision the merchant's policy took (no box shown, or a payment link) is not news to
    the merchant, nor is AutoPay ending with a removed payment method: no email.
    """
    if choice.decided_by != "customer" or choice.trigger == "payment_method_removed":
        return None
    if choice.trigger == "customer_changed":
        return Template.TURNED_ON if choice.auto_process else Template.TURNED_OFF
    return Template.ENROLLED if choice.auto_process else Template.DECLINED


def outcome_for(choice: AutopayChoiceRecorded, recipients: list[str]) -> Outcome:
    template = template_for(choice)
    if template is None:
        removed = choice.trigger == "payment_method_removed"
        return Outcome.REMOVED if removed else Outcome.MERCHANT_POLICY
    if not recipients:
        return Outcome.NO_RECIPIENT
    return Outcome(template.value)


def waits_for_settings(choice: AutopayChoiceRecorded, known_version: int) -> bool:
    """Whether a choice must wait for the settings version it was made under.

    Settings and choices travel on different topics: a choice can arrive before the settings
    change that added an address, and must wait for it or that address misses the email.
    Only a choice that calls for an email waits; `known_version` is the merchant's version in
    the projection (0 when none).
    """
    return template_for(choice) is not None and choice.settings_version > known_version


CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american_express": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
}
GENERIC_NAMES = {
    ("card", "en"): "card",
    ("card", "fr"): "carte",
    ("bank_account", "en"): "bank account",
    ("bank_account", "fr"): "compte bancaire",
}
MASK = "••••"


def payment_method_label(method: PaymentMethod, locale: str) -> str:
    """ "Visa •••• 4242", "compte bancaire •••• 6789": never more than the last four digits."""
    if method.type == "card" and method.brand:
        name = CARD_BRANDS.get(method.brand.lower(), method.brand)
    else:
        name = GENERIC_NAMES[(method.type, locale)]
    return f"{name} {MASK} {method.last4}"


@dataclass(frozen=True, slots=True)
class EmailFacts:
    """Everything a template may show, taken from one event. Stored with the pending email."""

    customer_name: str
    customer_id: str
    payment_method: str
    box_default_checked: bool
    occurred_at: datetime
    reference: str

    def to_json(self) -> dict:
        return {
            "customer_name": self.customer_name,
            "customer_id": self.customer_id,
            "payment_method": self.payment_method,
            "box_default_checked": self.box_default_checked,
            "occurred_at": self.occurred_at.isoformat(),
            "reference": self.reference,
        }

    @classmethod
    def from_json(cls, data: dict) -> "EmailFacts":
        """Stored facts may carry more than the templates show (the merchant id, for logs)."""
        known = {name: data[name] for name in cls.__dataclass_fields__}
        return cls(**(known | {"occurred_at": datetime.fromisoformat(data["occurred_at"])}))


def email_facts(
    choice: AutopayChoiceRecorded, *, event_id: str, occurred_at: datetime, locale: str
) -> EmailFacts:
    return EmailFacts(
        customer_name=header_text(choice.customer_name),
        customer_id=choice.customer_id,
        payment_method=display_text(payment_method_label(choice.payment_method, locale)),
        box_default_checked=bool(choice.box_default_checked),
        occurred_at=occurred_at,
        reference=event_id,
    )


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# Marks, embeddings, overrides and isolates: "Ada \u202egpj.exe" would show as "Ada exe.jpg".
_BIDI_CONTROLS = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def display_text(value: str) -> str:
    """Text from an event as an email shows it: without bidi controls, which could make
    a name read as something else or reverse the words after it."""
    return _BIDI_CONTROLS.sub("", value)


def header_text(value: str) -> str:
    """A value safe for a header: control characters (CR, LF…) become one space, bidi
    controls go.

    A customer named "x\\r\\nBcc: someone" then stays text inside the Subject instead of
    adding a header.
    """
    return _LINE_BREAKS.sub(" ", display_text(value)).strip()


def message_id(event_id: str, recipient: str, domain: str) -> str:
    """The same event to the same recipient always has the same Message-ID.

    A receiving system that drops repeated Message-IDs then drops a resend after a crash.
    Hashed, because an event id is not guaranteed to be valid in a header.
    """
    digest = hashlib.sha256(f"{event_id}\n{recipient.lower()}".encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential back-off per email (one failing address waits alone), for as long
    as `give_up_after` from when the email was queued: an outage or a wrong SMTP_URL over a
    weekend delays the emails, it does not lose them."""

    first: timedelta = timedelta(seconds=1)
    factor: float = 2.0
    longest: timedelta = timedelta(minutes=15)
    give_up_after: timedelta = timedelta(days=3)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1, 2, …)."""
        # A capped exponent: factor ** n would overflow after a few hundred attempts, and the
        # delay is at `longest` long before.
        seconds = self.first.total_seconds() * self.factor ** min(attempts - 1, 64)
        return timedelta(seconds=min(seconds, self.longest.total_seconds()))

    def gives_up(self, queued_at: datetime, now: datetime) -> bool:
        return now - queued_at >= self.give_up_after
