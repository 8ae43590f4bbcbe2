"""The settings rules: defaults, PATCH, the If-Match check, no-op saves, the event."""

from datetime import UTC, datetime

import pytest

from services.common.contract import Notification, PortalSettings
from services.settings.domain import (
    DEFAULT_CONTENT,
    Changes,
    Content,
    SettingsVersion,
    VersionConflict,
    defaults,
    next_version,
    patched,
    settings_changed,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

ALL_ON = PortalSettings(
    allow_customer_autopay_changes=True,
    auto_enable_autopay_on_new_payment_method=True,
    default_use_for_autopay_checked=True,
    auto_enable_autopay_on_payment_link=True,
)


def content(**switches: bool) -> Content:
    settings = DEFAULT_CONTENT.settings.model_copy(update=switches)
    return Content(settings, DEFAULT_CONTENT.notification)


def save(current: SettingsVersion, proposed: Content, expected: int | None = None):
    return next_version(
        current, proposed, expected_version=expected, changed_by="ada", changed_at=NOW
    )


def test_a_merchant_that_never_saved_has_every_switch_off_no_emails_and_english():
    version = defaults("m1")
    assert version.version == 0
    assert not any(version.content.settings.model_dump().values())
    assert version.content.notification == Notification(emails=[], locale="en")
    assert version.changed_by is None and version.changed_at is None


def test_a_patch_changes_only_the_fields_it_names():
    current = Content(ALL_ON, Notification(emails=["a@example.com"], locale="fr"))
    result = patched(
        current,
        Changes(settings={"default_use_for_autopay_checked": False}, notification={"locale": "en"}),
    )
    assert result.settings == ALL_ON.model_copy(update={"default_use_for_autopay_checked": False})
    assert result.notification == Notification(emails=["a@example.com"], locale="en")


def test_an_empty_patch_leaves_the_content_as_it_is():
    assert patched(DEFAULT_CONTENT, Changes()) == DEFAULT_CONTENT


def test_a_patch_naming_an_unknown_switch_is_refused():
    with pytest.raises(ValueError, match="allow_autopay"):
        patched(DEFAULT_CONTENT, Changes(settings={"allow_autopay": True}))


def test_a_change_makes_the_next_version_with_its_author_and_time():
    new = save(defaults("m1"), content(allow_customer_autopay_changes=True))
    assert new == SettingsVersion(
        "m1", 1, content(allow_customer_autopay_changes=True), changed_at=NOW, changed_by="ada"
    )


def test_a_save_that_changes_nothing_makes_no_version():
    assert save(defaults("m1"), DEFAULT_CONTENT) is None


def test_reordering_the_emails_is_a_change():
    current = SettingsVersion(
        "m1", 3, Content(ALL_ON, Notification(emails=["a@x.io", "b@x.io"], locale="en"))
    )
    reordered = Content(ALL_ON, Notification(emails=["b@x.io", "a@x.io"], locale="en"))
    assert save(current, reordered).version == 4


def test_if_match_on_the_current_version_lets_the_save_through():
    assert save(defaults("m1"), content(default_use_for_autopay_checked=True), 0).version == 1


def test_if_match_on_another_version_is_a_conflict_even_for_a_save_that_changes_nothing():
    current = SettingsVersion("m1", 2, DEFAULT_CONTENT)
    with pytest.raises(VersionConflict) as conflict:
        save(current, DEFAULT_CONTENT, expected=1)
    assert (conflict.value.expected, conflict.value.current.version) == (1, 2)


def test_the_first_version_s_event_has_no_previous_settings():
    first = save(defaults("m1"), content(allow_customer_autopay_changes=True))
    event = settings_changed(defaults("m1"), first)
    assert event.version == 1
    assert event.previous is None
    assert event.settings.allow_customer_autopay_changes
    assert event.notification == DEFAULT_CONTENT.notification
    assert event.changed_by == "ada"


def test_a_later_version_s_event_carries_the_settings_before():
    first = save(defaults("m1"), content(allow_customer_autopay_changes=True))
    second = save(first, Content(ALL_ON, Notification(emails=["m@x.io"], locale="fr")))
    event = settings_changed(first, second)
    assert (event.merchant_id, event.version) == ("m1", 2)
    assert event.previous == first.content.settings
    assert event.settings == ALL_ON
    assert event.notification.locale == "fr"
