"""The event contract (v1): topics, CloudEvents types and the `data` of each event.

Other platform services rely on these shapes; `portal-autopay schemas export` publishes them
to `schemas/` as JSON Schema and AsyncAPI, and a test fails when the files drift from here.
Rules that hold for every model: unknown fields are ignored (forward compatibility), missing
or ill-typed required fields are invalid (strict types: "true" is not a boolean). Every rule
is one the exported JSON Schema states too, so the schema and the models judge alike.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic_core import PydanticCustomError, core_schema

SPEC_VERSION = "1.0"

SETTINGS_CHANGED_TOPIC = "portal.settings.changed"
PAYMENT_METHOD_ADDED_TOPIC = "payments.payment_method.added"
AUTOPAY_CHOICE_RECORDED_TOPIC = "autopay.choice.recorded"
AUTOPAY_DLQ_TOPIC = "autopay.dlq"
NOTIFIER_DLQ_TOPIC = "notifier.dlq"

ALL_TOPICS = (
    SETTINGS_CHANGED_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    AUTOPAY_DLQ_TOPIC,
    NOTIFIER_DLQ_TOPIC,
)


@dataclass(frozen=True, slots=True)
class Refuse:
    """Refuses a string holding any character of `characters` (a regex character class).

    Exported as `"not": {"pattern": characters}`: an unanchored search means the same in
    every regex dialect (ECMA-262, Python's `re`, Rust's), whereas `^…$` does not (Python's
    `$`, which the `jsonschema` package uses, also matches before a final newline).
    """

    characters: str
    rule: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        found, rule = re.compile(self.characters).search, self.rule

        def check(value: str) -> str:
            if found(value):
                # The rule, never the value: it may be a card number or a NUL byte.
                raise PydanticCustomError("forbidden_character", rule)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return handler(schema) | {"not": {"pattern": self.characters}}


# C0, DEL and C1: NUL cannot be stored in jsonb, CR/LF would break a line of an email.
NO_CONTROL_CHARACTERS = Refuse(
    r"[\u0000-\u001f\u007f-\u009f]",
    "must not contain control characters (U+0000–U+001F, U+007F–U+009F)",
)


def text(max_length: int) -> Any:
    """Free text of 1 to `max_length` characters, without control characters."""
    return Annotated[
        str, StringConstraints(min_length=1, max_length=max_length), NO_CONTROL_CHARACTERS
    ]


def _whole(value: object) -> object:
    # JSON has one kind of number: 1.0 is the integer 1 for JSON Schema, and so for us.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Versions are stored in PostgreSQL `integer` (int4) columns.
INT4_MAX = 2**31 - 1
Version = Annotated[int, Field(ge=1, le=INT4_MAX), BeforeValidator(_whole)]
VersionOrDefaults = Annotated[int, Field(ge=0, le=INT4_MAX), BeforeValidator(_whole)]

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Refuse(r"[^A-Za-z0-9_-]", "must contain only A-Z a-z 0-9 _ -"),
]
# Exactly four digits: an event carrying a full card number is rejected, never stored.
Last4 = Annotated[
    str, StringConstraints(min_length=4, max_length=4), Refuse(r"[^0-9]", "must be digits")
]
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# ASCII only: an address we can hand to any SMTP server (no SMTPUTF8); an internationalised
# domain is written in its xn-- form.
EmailAddress = Annotated[
    str,
    StringConstraints(max_length=254, pattern=rf"^{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})+$"),
    Refuse(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]", "must be an ASCII email address"),
]
Locale = Literal["en", "fr"]
Channel = Literal["customer_portal", "payment_link", "merchant_dashboard", "api"]
CustomerName = text(200)
Brand = text(40)
Actor = text(200)
EventId = text(200)


class ContractModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class PortalSettings(ContractModel):
    """The four switches of the merchant's "Customer portal settings" page."""

    allow_customer_autopay_changes: bool = Field(
        description="Allow customers to modify AutoPay settings in the customer portal."
    )
    auto_enable_autopay_on_new_payment_method: bool = Field(
        description="Enable auto-processing when a customer saves a new payment method "
        "in the customer portal."
    )
    default_use_for_autopay_checked: bool = Field(
        description="'Use this payment method for AutoPay' starts checked."
    )
    auto_enable_autopay_on_payment_link: bool = Field(
        description="Enable auto-processing for payment methods saved through a "
        "Pay Now / payment-information-request link."
    )


DEFAULT_PORTAL_SETTINGS = PortalSettings(
    allow_customer_autopay_changes=False,
    auto_enable_autopay_on_new_payment_method=False,
    default_use_for_autopay_checked=False,
    auto_enable_autopay_on_payment_link=False,
)


class Notification(ContractModel):
    """Who receives the merchant's emails, and in which language."""

    emails: list[EmailAddress] = Field(max_length=10)
    locale: Locale


DEFAULT_NOTIFICATION = Notification(emails=[], locale="en")


class PaymentMethod(ContractModel):
    id: Identifier
    type: Literal["card", "bank_account"]
    brand: Brand | None = None
    last4: Last4


class PortalSettingsChanged(ContractModel):
    """Published by settings on every new version of a merchant's portal settings."""

    merchant_id: Identifier
    version: Version = Field(description="Per merchant: 1, 2, 3…")
    settings: PortalSettings
    notification: Notification
    previous: PortalSettings | None = Field(description="The settings before, or null.")
    changed_by: Actor


class PaymentMethodAdded(ContractModel):
    """Published by other platform services when a customer saves a payment method."""

    merchant_id: Identifier
    customer_id: Identifier
    customer_name: CustomerName
    payment_method: PaymentMethod
    channel: Channel
    use_for_autopay: bool | None = Field(
        default=None,
        description="The checkbox as the customer submitted it; null when no box was shown.",
    )
    portal_settings_version: VersionOrDefaults | None = Field(
        default=None, description="The settings version the portal page was rendered with."
    )


class AutopayChoiceRecorded(ContractModel):
    """Published by autopay when it has set a payment profile's auto-process flag."""

    merchant_id: Identifier
    customer_id: Identifier
    customer_name: CustomerName
    payment_method: PaymentMethod
    channel: Channel
    auto_process: bool
    decided_by: Literal["customer", "merchant_policy"]
    box_default_checked: bool | None = Field(
        description="The box's default state when the customer decided; null otherwise."
    )
    settings_version: VersionOrDefaults = Field(description="0 = the defaults.")
    caused_by: EventId = Field(description="The id of the PaymentMethodAdded event.")


EVENT_TOPICS: dict[type[ContractModel], str] = {
    PortalSettingsChanged: SETTINGS_CHANGED_TOPIC,
    PaymentMethodAdded: PAYMENT_METHOD_ADDED_TOPIC,
    AutopayChoiceRecorded: AUTOPAY_CHOICE_RECORDED_TOPIC,
}


def event_type(model: type[ContractModel]) -> str:
    """The CloudEvents `type` of an event is its class name, e.g. `PaymentMethodAdded`."""
    return model.__name__


def record_key(event: ContractModel) -> str:
    """Kafka key: one merchant's settings, and one customer's events, stay in order."""
    if isinstance(event, PortalSettingsChanged):
        return event.merchant_id
    assert isinstance(event, PaymentMethodAdded | AutopayChoiceRecorded)
    return f"{event.merchant_id}:{event.customer_id}"
