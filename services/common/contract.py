"""The event contract (v1): topics, CloudEvents types and the `data` of each event.

Other platform services rely on these shapes; `portal-autopay schemas export` publishes them
to `schemas/` as JSON Schema and AsyncAPI, and a test fails when the files drift from here.
Rules that hold for every model: unknown fields are ignored (forward compatibility), missing
or ill-typed required fields are invalid (strict types: "true" is not a boolean). Every rule
is one the exported JSON Schema states too, so the schema and the models judge alike.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.fields import (
    Actor,
    Brand,
    CustomerName,
    EmailAddress,
    EventId,
    Identifier,
    Last4,
    Version,
    VersionOrDefaults,
)

SPEC_VERSION = "1.0"

SETTINGS_CHANGED_TOPIC = "portal.settings.changed"
PAYMENT_METHOD_ADDED_TOPIC = "payments.payment_method.added"
AUTOPAY_CHOICE_RECORDED_TOPIC = "autopay.choice.recorded"
CHANGE_REQUESTED_TOPIC = "portal.autopay.change_requested"
PAYMENT_METHOD_REMOVED_TOPIC = "payments.payment_method.removed"
CHANGE_REJECTED_TOPIC = "autopay.change.rejected"
AUTOPAY_DLQ_TOPIC = "autopay.dlq"
NOTIFIER_DLQ_TOPIC = "notifier.dlq"

ALL_TOPICS = (
    SETTINGS_CHANGED_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    CHANGE_REQUESTED_TOPIC,
    PAYMENT_METHOD_REMOVED_TOPIC,
    CHANGE_REJECTED_TOPIC,
    AUTOPAY_DLQ_TOPIC,
    NOTIFIER_DLQ_TOPIC,
)


Locale = Literal["en", "fr"]
Channel = Literal["customer_portal", "payment_link", "merchant_dashboard", "api"]


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


Trigger = Literal["payment_method_added", "customer_changed", "payment_method_removed"]


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
    caused_by: EventId = Field(description="The id of the event behind the choice.")
    trigger: Trigger = Field(
        default="payment_method_added",
        description="What led to the choice; absent on v1 events: payment_method_added.",
    )


class AutopayChangeRequested(ContractModel):
    """Published by the customer portal when a customer turns AutoPay on or off for a saved
    payment method."""

    merchant_id: Identifier
    customer_id: Identifier
    payment_method_id: Identifier
    auto_process: bool = Field(description="What the customer asks for.")
    portal_settings_version: VersionOrDefaults | None = Field(
        default=None, description="The settings version the portal page was rendered with."
    )
    requested_by: Actor = Field(description="The portal user who asked.")


class PaymentMethodRemoved(ContractModel):
    """Published by other platform services when a saved payment method is removed."""

    merchant_id: Identifier
    customer_id: Identifier
    payment_method_id: Identifier
    channel: Channel


RejectionReason = Literal[
    "customer_changes_not_allowed", "unknown_payment_method", "payment_method_removed"
]


class AutopayChangeRejected(ContractModel):
    """Published by autopay when it refuses an AutopayChangeRequested: the request, and why,
    so that the portal can tell the customer. The profile is unchanged."""

    merchant_id: Identifier
    customer_id: Identifier
    payment_method_id: Identifier
    auto_process: bool = Field(description="What the customer asked for.")
    portal_settings_version: VersionOrDefaults | None = None
    requested_by: Actor
    reason: RejectionReason
    caused_by: EventId = Field(description="The id of the AutopayChangeRequested event.")


EVENT_TOPICS: dict[type[ContractModel], str] = {
    PortalSettingsChanged: SETTINGS_CHANGED_TOPIC,
    PaymentMethodAdded: PAYMENT_METHOD_ADDED_TOPIC,
    AutopayChoiceRecorded: AUTOPAY_CHOICE_RECORDED_TOPIC,
    AutopayChangeRequested: CHANGE_REQUESTED_TOPIC,
    PaymentMethodRemoved: PAYMENT_METHOD_REMOVED_TOPIC,
    AutopayChangeRejected: CHANGE_REJECTED_TOPIC,
}

# The fields of each event's record key, joined by ":": one merchant's settings, and one
# customer's events, stay in order. The AsyncAPI document is derived from this too.
KEY_FIELDS: dict[type[ContractModel], tuple[str, ...]] = {
    PortalSettingsChanged: ("merchant_id",),
    **{
        model: ("merchant_id", "customer_id")
        for model in EVENT_TOPICS
        if model is not PortalSettingsChanged
    },
}


def event_type(model: type[ContractModel]) -> str:
    """The CloudEvents `type` of an event is its class name, e.g. `PaymentMethodAdded`."""
    return model.__name__


def record_key(event: ContractModel) -> str:
    """Kafka key: the values of the event's `KEY_FIELDS`, joined by ":"."""
    return ":".join(getattr(event, name) for name in KEY_FIELDS[type(event)])
