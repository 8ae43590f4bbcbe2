"""The notifier's rules, as tables."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common.contract import AutopayChoiceRecorded, PaymentMethod
from services.notifier.domain import (
    Outcome,
    RetryPolicy,
    Template,
    header_text,
    message_id,
    outcome_for,
    payment_method_label,
    template_for,
    waits_for_settings,
)

VISA = PaymentMethod(id="pm_1", type="card", brand="visa", last4="4242")


def method(kind: str, brand: str | None, last4: str) -> PaymentMethod:
    return PaymentMethod(id="pm_x", type=kind, brand=brand, last4=last4)


def choice(**changes) -> AutopayChoiceRecorded:
    fields = dict(
        merchant_id="m1",
        customer_id="c1",
        customer_name="Ada Lovelace",
        payment_method=VISA,
        channel="customer_portal",
        auto_process=True,
        decided_by="customer",
        box_default_checked=False,
        settings_version=1,
        caused_by="pma-1",
    )
    return AutopayChoiceRecorded(**(fields | changes))


@pytest.mark.parametrize(
    ("decided_by", "auto_process", "recipients", "template", "outcome"),
    [
        ("customer", True, ["a@x.com"], Template.ENROLLED, Outcome.ENROLLED),
        ("customer", False, ["a@x.com"], Template.DECLINED, Outcome.DECLINED),
        ("customer", True, [], Template.ENROLLED, Outcome.NO_RECIPIENT),
        ("customer", False, [], Template.DECLINED, Outcome.NO_RECIPIENT),
        ("merchant_policy", True, ["a@x.com"], None, Outcome.MERCHANT_POLICY),
        ("merchant_policy", False, ["a@x.com"], None, Outcome.MERCHANT_POLICY),
    ],
)
def test_the_customer_decision_picks_the_email_and_policy_decisions_send_none(
    decided_by, auto_process, recipients, template, outcome
):
    event = choice(decided_by=decided_by, auto_process=auto_process)
    assert template_for(event) == template
    assert outcome_for(event, recipients) == outcome


@pytest.mark.parametrize(
    ("trigger", "decided_by", "auto_process", "template", "outcome"),
    [
        ("customer_changed", "customer", False, Template.TURNED_OFF, Outcome.TURNED_OFF),
        ("customer_changed", "customer", True, Template.TURNED_ON, Outcome.TURNED_ON),
        ("payment_method_removed", "customer", False, None, Outcome.REMOVED),
        ("payment_method_removed", "merchant_policy", False, None, Outcome.REMOVED),
        ("payment_method_added", "customer", True, Template.ENROLLED, Outcome.ENROLLED),
    ],
)
def test_a_later_change_by_the_customer_is_news_and_a_removal_is_not(
    trigger, decided_by, auto_process, template, outcome
):
    event = choice(trigger=trigger, decided_by=decided_by, auto_process=auto_process)
    assert template_for(event) == template
    assert outcome_for(event, ["a@x.com"]) == outcome


def test_a_v1_choice_without_a_trigger_reads_as_a_new_payment_method():
    v1 = choice().model_dump(mode="json")
    del v1["trigger"]
    assert AutopayChoiceRecorded.model_validate(v1).trigger == "payment_method_added"


def test_a_trigger_outside_the_contract_is_invalid():
    with pytest.raises(ValueError, match="trigger"):
        choice(trigger="admin_override")


@pytest.mark.parametrize(
    ("method", "locale", "label"),
    [
        (VISA, "en", "Visa •••• 4242"),
        (VISA, "fr", "Visa •••• 4242"),
        (
            PaymentMethod(id="p", type="card", brand="amex", last4="0005"),
            "en",
            "American Express •••• 0005",
        ),
        (PaymentMethod(id="p", type="card", brand="Elo", last4="1234"), "en", "Elo •••• 1234"),
        (PaymentMethod(id="p", type="card", last4="1234"), "fr", "carte •••• 1234"),
        (PaymentMethod(id="p", type="bank_account", last4="6789"), "en", "bank account •••• 6789"),
        (
            PaymentMethod(id="p", type="bank_account", last4="6789"),
            "fr",
            "compte bancaire •••• 6789",
        ),
    ],
)
def test_a_payment_method_shows_its_name_and_only_its_last_four_digits(method, locale, label):
    assert payment_method_label(method, locale) == label


def test_a_line_break_in_a_header_value_becomes_a_space_so_it_cannot_start_a_header():
    assert header_text("Ada\r\nBcc: evil@example.com") == "Ada Bcc: evil@example.com"
    assert header_text("Ada\nLove\x00lace\u2028") == "Ada Love lace"


def test_the_message_id_is_the_same_for_a_repeat_and_differs_per_recipient():
    first = message_id("evt-1", "a@x.com", "example.com")
    assert first == message_id("evt-1", "A@X.com", "example.com")
    assert first != message_id("evt-1", "b@x.com", "example.com")
    assert first != message_id("evt-2", "a@x.com", "example.com")
    assert first.startswith("<") and first.endswith("@example.com>")


def test_an_event_id_with_header_characters_still_gives_a_clean_message_id():
    assert "\n" not in message_id("evt\r\nBcc: x@y.z", "a@x.com", "example.com")


def test_only_choices_that_send_an_email_wait_for_a_newer_settings_version():
    # choice, the merchant's version in the projection → waits?
    table = [
        (choice(settings_version=5), 4, True),
        (choice(settings_version=5, auto_process=False), 4, True),
        (choice(settings_version=5), 5, False),
        (choice(settings_version=5), 6, False),
        (choice(settings_version=9, decided_by="merchant_policy"), 0, False),  # no email
        (choice(settings_version=0), 0, False),  # the defaults: nothing to wait for
        (choice(settings_version=1), 0, True),  # no settings projected yet
    ]
    for event, known_version, waits in table:
        assert waits_for_settings(event, known_version) is waits, (event, known_version)


def test_retries_back_off_exponentially_up_to_a_ceiling_however_many_attempts_failed():
    policy = RetryPolicy(first=timedelta(seconds=1), longest=timedelta(seconds=30))
    assert [policy.delay(n).total_seconds() for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(5000) == timedelta(seconds=30)


def test_retries_give_up_once_the_email_was_queued_give_up_after_ago():
    policy = RetryPolicy(give_up_after=timedelta(days=3))
    queued = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert not policy.gives_up(queued, queued + timedelta(days=3) - timedelta(seconds=1))
    assert policy.gives_up(queued, queued + timedelta(days=3))
