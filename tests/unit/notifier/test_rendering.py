"""The emails as a merchant reads them: golden files, escaping, headers that cannot be forged.

The expected outputs live in `golden/` as `<template>.<locale>.txt` (subject and text part)
and `.html`; after a deliberate change, rewrite them with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/notifier` and review the diff.
"""

import dataclasses
import os
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from services.notifier.domain import LOCALES, Template
from services.notifier.preview import sample_facts
from services.notifier.rendering import Renderer, compose, wire_bytes

GOLDEN = Path(__file__).parent / "golden"
HOSTILE_NAME = 'Eve <script>alert("x")</script> & Co\r\nBcc: thief@example.com'


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def golden(path: Path, actual: str) -> str:
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", list(Template))
def test_each_template_renders_as_its_golden_file(renderer, template, locale):
    rendered = renderer.render(template, locale, sample_facts(template, locale))
    name = f"{template}.{locale}"
    text = f"Subject: {rendered.subject}\n\n{rendered.text}"
    assert text == golden(GOLDEN / f"{name}.txt", text)
    assert rendered.html == golden(GOLDEN / f"{name}.html", rendered.html)


def test_the_declined_email_says_when_the_box_had_been_checked_by_default(renderer):
    facts = sample_facts(Template.DECLINED, "en")
    checked = renderer.render(Template.DECLINED, "en", facts)
    unchecked = renderer.render(
        Template.DECLINED, "en", dataclasses.replace(facts, box_default_checked=False)
    )
    assert "which was checked by default" in checked.text
    assert "which was checked by default" in checked.html
    assert "checked by default" not in unchecked.text
    assert "checked by default" not in unchecked.html


def test_the_time_is_written_the_way_the_merchants_locale_writes_it(renderer):
    facts = dataclasses.replace(
        sample_facts(Template.ENROLLED, "fr"), occurred_at=datetime(2026, 7, 1, 15, 4, tzinfo=UTC)
    )
    assert "1 juillet 2026, 15:04:00" in renderer.render(Template.ENROLLED, "fr", facts).text
    assert "July 1, 2026, 3:04:00" in renderer.render(Template.ENROLLED, "en", facts).text


def test_names_and_event_values_are_escaped_in_html(renderer):
    facts = dataclasses.replace(
        sample_facts(Template.ENROLLED, "en"),
        customer_name=HOSTILE_NAME,
        customer_id="<b>cus</b>",
        reference='"><img src=x>',
    )
    html = renderer.render(Template.ENROLLED, "en", facts).html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html
    assert "&lt;b&gt;cus&lt;/b&gt;" in html
    assert "<img" not in html


def test_a_name_that_tries_to_add_a_header_stays_text_in_the_subject(renderer):
    facts = dataclasses.replace(sample_facts(Template.ENROLLED, "en"), customer_name=HOSTILE_NAME)
    message = compose(
        renderer.render(Template.ENROLLED, "en", facts),
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = message_from_bytes(wire_bytes(message), policy=policy.default)
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
    facts = sample_facts(Template.DECLINED, "fr")
    message = compose(
        renderer.render(Template.DECLINED, "fr", facts),
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = message_from_bytes(wire_bytes(message), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "compte bancaire •••• 6789" in parsed.get_body(("plain",)).get_content()
    assert '<html lang="fr">' in parsed.get_body(("html",)).get_content()


def test_a_template_that_names_an_unknown_variable_fails_instead_of_sending_a_blank(tmp_path):
    (tmp_path / "enrolled").mkdir()
    (tmp_path / "enrolled" / "subject.en.txt.j2").write_text("{{ customer_nmae }}")
    with pytest.raises(UndefinedError):
        Renderer(tmp_path).render(Template.ENROLLED, "en", sample_facts(Template.ENROLLED, "en"))


def test_a_long_subject_with_accents_and_bullets_arrives_exactly_as_rendered(renderer):
    facts = dataclasses.replace(
        sample_facts(Template.DECLINED, "fr"), customer_name="Zoé Çélestine-Dupont " * 6
    )
    rendered = renderer.render(Template.DECLINED, "fr", facts)
    message = compose(
        rendered,
        sender="Portal <no-reply@example.com>",
        recipient="billing@merchant.example",
        message_id="<id@example.com>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = message_from_bytes(wire_bytes(message), policy=policy.default)
    assert parsed["Subject"] == rendered.subject
