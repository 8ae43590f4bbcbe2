"""The rules of a merchant's portal settings, as pure functions over immutable values.

A merchant's settings are a sequence of immutable versions 1, 2, 3…; version 0 is the
defaults and is never stored. A save either makes the next version, announced by one
PortalSettingsChanged, or, when it changes nothing, makes nothing at all.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from services.common.contract import (
    DEFAULT_NOTIFICATION,
    DEFAULT_PORTAL_SETTINGS,
    Notification,
    PortalSettings,
    PortalSettingsChanged,
)

SWITCHES = tuple(PortalSettings.model_fields)
NOTIFICATION_FIELDS = tuple(Notification.model_fields)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Content:
    """What the merchant edits: the four switches and who gets emails in which language."""

    settings: PortalSettings
    notification: Notification


DEFAULT_CONTENT = Content(DEFAULT_PORTAL_SETTINGS, DEFAULT_NOTIFICATION)


@dataclass(frozen=True, slots=True)
class SettingsVersion:
    """One version of a merchant's settings; version 0 (the defaults) has no author or time."""

    merchant_id: str
    version: int
    content: Content
    changed_at: datetime | None = None
    changed_by: str | None = None


@dataclass(frozen=True, slots=True)
class Changes:
    """A PATCH: only the fields named here change; the others keep their current value."""

    settings: Mapping[str, bool] = field(default_factory=dict)
    notification: Mapping[str, object] = field(default_factory=dict)


class VersionConflict(Exception):
    """The caller edited a version that is no longer the current one (If-Match failed)."""

    def __init__(self, expected: int, current: SettingsVersion) -> None:
        super().__init__(f"expected version {expected}, current version is {current.version}")
        self.expected = expected
        self.current = current


class InvalidContent(ValueError):
    """The settings a PATCH would make break a rule, in a field the PATCH left as stored."""

    def __init__(self, section: str, error: ValidationError) -> None:
        super().__init__(f"the {section} would not be valid")
        self.problems = [
            problem | {"loc": ("body", section, *problem["loc"])}
            for problem in error.errors(include_input=False, include_url=False)
        ]


def defaults(merchant_id: str) -> SettingsVersion:
    """A merchant that never saved anything: every switch off, no emails, English."""
    return SettingsVersion(merchant_id, 0, DEFAULT_CONTENT)


def patched(current: Content, changes: Changes) -> Content:
    """`current` with the fields of `changes` replaced; an unknown field name is an error."""
    unknown = sorted(
        (set(changes.settings) - set(SWITCHES))
        | (set(changes.notification) - set(NOTIFICATION_FIELDS))
    )
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    return Content(
        settings=_valid(PortalSettings, "settings", current.settings, changes.settings),
        notification=_valid(
            Notification, "notification", current.notification, changes.notification
        ),
    )


def _valid(model: type[M], section: str, current: M, changes: Mapping) -> M:
    try:
        return model.model_validate(current.model_dump() | dict(changes))
    except ValidationError as error:
        # A kept field that today's rules refuse: an address stored before they existed.
        raise InvalidContent(section, error) from None


def next_version(
    current: SettingsVersion,
    proposed: Content,
    *,
    expected_version: int | None,
    changed_by: str,
    changed_at: datetime,
) -> SettingsVersion | None:
    """The version a save makes, or None when it changes nothing.

    The If-Match check comes first: a caller that edited a stale version gets the conflict
    even when its proposal happens to equal the current content.
    """
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(expected_version, current)
    if proposed == current.content:
        return None
    return SettingsVersion(
        merchant_id=current.merchant_id,
        version=current.version + 1,
        content=proposed,
        changed_at=changed_at,
        changed_by=changed_by,
    )


def settings_changed(previous: SettingsVersion, new: SettingsVersion) -> PortalSettingsChanged:
    """The event that announces `new`; `previous` is null for a merchant's first version."""
    assert new.changed_by is not None
    return PortalSettingsChanged(
        merchant_id=new.merchant_id,
        version=new.version,
        settings=new.content.settings,
        notification=new.content.notification,
        previous=previous.content.settings if previous.version > 0 else None,
        changed_by=new.changed_by,
    )
