"""The decision table of the README, one test per row (and per box value where it matters)."""

import pytest

from services.autopay.domain import Decision, decide
from services.common.contract import PortalSettings


def settings(
    allow=False, auto_enable_new=False, default_checked=False, auto_enable_link=False
) -> PortalSettings:
    return PortalSettings(
        allow_customer_autopay_changes=allow,
        auto_enable_autopay_on_new_payment_method=auto_enable_new,
        default_use_for_autopay_checked=default_checked,
        auto_enable_autopay_on_payment_link=auto_enable_link,
    )


@pytest.mark.parametrize("box", [True, False])
@pytest.mark.parametrize("default_checked", [True, False])
def test_portal_allowing_changes_records_the_submitted_box_as_the_customers_choice(
    box, default_checked
):
    decision = decide("customer_portal", settings(allow=True, default_checked=default_checked), box)
    assert decision == Decision(box, "customer", box_default_checked=default_checked)


@pytest.mark.parametrize("default_checked", [True, False])
def test_portal_allowing_changes_without_a_box_value_applies_the_box_default(default_checked):
    decision = decide(
        "customer_portal", settings(allow=True, default_checked=default_checked), None
    )
    assert decision == Decision(default_checked, "customer", box_default_checked=default_checked)


def test_portal_allowing_changes_ignores_the_auto_enable_switch():
    decision = decide("customer_portal", settings(allow=True, auto_enable_new=True), False)
    assert decision == Decision(False, "customer", box_default_checked=False)


def test_portal_forbidding_changes_with_auto_enable_on_switches_autopay_on_by_policy():
    decision = decide("customer_portal", settings(auto_enable_new=True), None)
    assert decision == Decision(True, "merchant_policy", box_default_checked=None)


def test_portal_forbidding_changes_with_auto_enable_off_leaves_autopay_off_by_policy():
    decision = decide("customer_portal", settings(default_checked=True), None)
    assert decision == Decision(False, "merchant_policy", box_default_checked=None)


@pytest.mark.parametrize("auto_enable_new", [True, False])
@pytest.mark.parametrize("box", [True, False])
def test_portal_forbidding_changes_ignores_and_counts_a_forged_box_value(auto_enable_new, box):
    decision = decide("customer_portal", settings(auto_enable_new=auto_enable_new), box)
    assert decision == Decision(auto_enable_new, "merchant_policy", None, box_ignored=True)


@pytest.mark.parametrize("auto_enable_link", [True, False])
def test_payment_link_applies_the_payment_link_switch_by_policy(auto_enable_link):
    every_portal_switch_on = settings(True, True, True, auto_enable_link)
    decision = decide("payment_link", every_portal_switch_on, None)
    assert decision == Decision(auto_enable_link, "merchant_policy", box_default_checked=None)


def test_payment_link_ignores_and_counts_a_box_value():
    decision = decide("payment_link", settings(allow=True), True)
    assert decision == Decision(False, "merchant_policy", None, box_ignored=True)


@pytest.mark.parametrize("channel", ["merchant_dashboard", "api"])
@pytest.mark.parametrize("box", [True, False, None])
def test_dashboard_and_api_are_not_decided_by_portal_settings(channel, box):
    assert decide(channel, settings(True, True, True, True), box) is None
