"""Which settings version S decides a payment method."""

from services.autopay.domain import AppliedSettings, applicable_settings
from services.common.contract import DEFAULT_PORTAL_SETTINGS, PortalSettings

V1 = DEFAULT_PORTAL_SETTINGS.model_copy(update={"allow_customer_autopay_changes": True})
V2 = DEFAULT_PORTAL_SETTINGS.model_copy(update={"default_use_for_autopay_checked": True})
KNOWN: dict[int, PortalSettings] = {1: V1, 2: V2}


def test_the_version_the_page_was_rendered_with_applies_even_when_newer_ones_exist():
    assert applicable_settings(1, KNOWN) == AppliedSettings(1, V1)


def test_without_a_named_version_the_latest_known_version_applies():
    assert applicable_settings(None, KNOWN) == AppliedSettings(2, V2)


def test_a_merchant_without_settings_gets_the_defaults_as_version_zero():
    assert applicable_settings(None, {}) == AppliedSettings(0, DEFAULT_PORTAL_SETTINGS)


def test_version_zero_means_the_defaults_even_after_the_merchant_saved_settings():
    assert applicable_settings(0, KNOWN) == AppliedSettings(0, DEFAULT_PORTAL_SETTINGS)


def test_a_named_version_that_never_arrived_falls_back_to_the_latest_and_is_flagged():
    assert applicable_settings(3, KNOWN) == AppliedSettings(2, V2, fallback=True)


def test_a_named_version_of_a_merchant_without_settings_falls_back_to_the_defaults():
    assert applicable_settings(4, {}) == AppliedSettings(0, DEFAULT_PORTAL_SETTINGS, True)
