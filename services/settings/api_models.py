"""The JSON bodies of the HTTP API: what requests may hold and what responses hold."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from services.common.contract import EmailAddress, Locale, Notification, PortalSettings


# Request bodies forbid unknown fields: a misspelt switch name is a 422, not silently ignored.
class SettingsIn(PortalSettings):
    model_config = ConfigDict(extra="forbid")


def _distinct(emails: list[str] | None) -> list[str] | None:
    # One address twice would get every email twice.
    if emails is not None and len({email.lower() for email in emails}) != len(emails):
        raise PydanticCustomError("duplicate_email", "the same address appears twice")
    return emails


class NotificationIn(Notification):
    model_config = ConfigDict(extra="forbid")

    emails: list[EmailAddress] = Field(max_length=10, json_schema_extra={"uniqueItems": True})

    _distinct_emails = field_validator("emails")(_distinct)


class ReplaceBody(BaseModel):
    """PUT: the whole settings document."""

    model_config = ConfigDict(strict=True, extra="forbid")

    settings: SettingsIn
    notification: NotificationIn


class _Partial(BaseModel):
    """A PATCH part: absent fields keep their value; null is not a value any field takes.

    Fields default to None only to tell "absent" (not in `model_fields_set`); a null sent is
    refused by the field's own type, and the OpenAPI document allows no null.
    """

    model_config = ConfigDict(strict=True, extra="forbid")


def _absent(**details: Any) -> Any:
    return Field(default=None, **{"json_schema_extra": _without_default, **details})


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _unique_without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    schema["uniqueItems"] = True


def _switch(name: str) -> Any:
    return _absent(description=PortalSettings.model_fields[name].description)


class SettingsPatch(_Partial):
    allow_customer_autopay_changes: bool = _switch("allow_customer_autopay_changes")
    auto_enable_autopay_on_new_payment_method: bool = _switch(
        "auto_enable_autopay_on_new_payment_method"
    )
    default_use_for_autopay_checked: bool = _switch("default_use_for_autopay_checked")
    auto_enable_autopay_on_payment_link: bool = _switch("auto_enable_autopay_on_payment_link")


class NotificationPatch(_Partial):
    emails: list[EmailAddress] = _absent(max_length=10, json_schema_extra=_unique_without_default)
    locale: Locale = _absent()

    _distinct_emails = field_validator("emails")(_distinct)


class PatchBody(_Partial):
    """PATCH: only the fields given change."""

    settings: SettingsPatch = _absent()
    notification: NotificationPatch = _absent()


class SettingsDocument(BaseModel):
    merchant_id: str
    version: int = Field(description="0: the defaults, never saved.")
    settings: PortalSettings
    notification: Notification
    updated_at: datetime | None
    updated_by: str | None


class VersionPage(BaseModel):
    merchant_id: str
    versions: list[SettingsDocument] = Field(description="Newest first.")
    next: str | None = Field(description="The URL of the next (older) page, or null.")


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path in the body, e.g. `settings.allow_autopay`.")
    reason: str = Field(
        description="unknown_field, missing_field, wrong_type, null_value, invalid_email, "
        "duplicate_email, too_many_emails, unsupported_locale"
    )
    message: str


class Problem(BaseModel):
    reason: str = Field(
        description="invalid_merchant_id, invalid_version, invalid_query, invalid_if_match, "
        "malformed_json, missing_token, invalid_token, insufficient_scope, unknown_merchant, "
        "invalid_settings, version_mismatch, version_not_found, unavailable"
    )
    message: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="With invalid_settings: one entry per problem in the body."
    )
    current_version: int | None = Field(
        default=None, description="With version_mismatch: the version to edit instead."
    )
