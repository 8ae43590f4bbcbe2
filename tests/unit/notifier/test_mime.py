"""The wire form of an email, parsed back with the standard library as a mail client would."""

import dataclasses
from datetime import UTC, datetime

import pytest

from services.common.contract import AutopayChoiceRecorded, PaymentMethod
from services.notifier.domain import Template, email_facts
from services.notifier.mime import build
from services.notifier.preview import sample_facts
from services.notifier.rendering import Renderer

HOSTILE_NAME = 'Eve <script>alert("x")</script> & Co\r\nBcc: thief@example.com'


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_a_name_that_tries_to_add_a_header_stays_text_in_the_subject(renderer):
    facts = dataclasses.replace(sample_facts(Template.ENROLLED, "en"), customer_name=HOSTILE_NAME)
    email = build(
        renderer.render(Template.ENROLLED, "en", facts),
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = email.as_message()
    assert parsed["Bcc"] is None
    assert "Bcc: thief@example.com" in parsed["Subject"]
    assert [name for name, _ in parsed.items()] == [
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
    ]


def test_an_email_has_a_plain_text_part_and_an_html_part(renderer):
    rendered = renderer.render(Template.DECLINED, "fr", sample_facts(Template.DECLINED, "fr"))
    email = build(
        rendered,
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = email.as_message()
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = parsed.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert (plain, html) == (rendered.text, rendered.html)
    assert "compte bancaire •••• 6789" in plain


def test_a_long_subject_with_accents_and_bullets_arrives_exactly_as_rendered(renderer):
    facts = dataclasses.replace(
        sample_facts(Template.DECLINED, "fr"), customer_name="Zoé Çélestine-Dupont " * 6
    )
    rendered = renderer.render(Template.DECLINED, "fr", facts)
    email = build(
        rendered,
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = email.as_message()
    assert parsed["Subject"] == rendered.subject


def test_a_sender_name_with_accents_is_encoded_and_its_address_kept():
    rendered = Renderer().render(Template.ENROLLED, "en", sample_facts(Template.ENROLLED, "en"))
    email = build(
        rendered,
        sender="Boutique Élise <no-reply@elise.example>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert email.envelope_from == "no-reply@elise.example"
    assert email.as_message()["From"] == "Boutique Élise <no-reply@elise.example>"
    assert email.data.isascii()


BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("template", list(Template))
def test_a_bidi_override_in_a_name_reaches_neither_the_subject_nor_the_bodies(renderer, template):
    # "Ada \u202egpj.exe" shows as "Ada exe.jpg": the override would reverse what follows.
    choice = AutopayChoiceRecorded(
        merchant_id="m",
        customer_id="c",
        customer_name="Ada \u202egpj.exe\u202c \u2067Lovelace\u2069\u200f",
        payment_method=PaymentMethod(id="pm", type="card", brand="Vi\u202dsa\u2066", last4="4242"),
        channel="customer_portal",
        auto_process=template is Template.ENROLLED,
        decided_by="customer",
        box_default_checked=True,
        settings_version=1,
        caused_by="evt",
    )
    facts = email_facts(
        choice, event_id="evt-2", occurred_at=datetime(2026, 1, 1, tzinfo=UTC), locale="en"
    )
    rendered = renderer.render(template, "en", facts)
    parsed = build(
        rendered,
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    ).as_message()
    plain = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for text in (parsed["Subject"], plain, html):
        assert not set(text) & set(BIDI_CONTROLS)
    assert "Ada gpj.exe Lovelace" in parsed["Subject"]
    assert "Visa •••• 4242" in plain
