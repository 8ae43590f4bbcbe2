"""The wire form of an email, parsed back with the standard library as a mail client would."""

import dataclasses
from datetime import UTC, datetime

import pytest

from services.notifier.domain import Template
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
