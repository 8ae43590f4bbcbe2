"""The emails as a merchant reads them: golden files, escaping, headers that cannot be forged.

The expected outputs live in `golden/` as `<template>.<locale>.txt` (subject and text part)
and `.html`; after a deliberate change, rewrite them with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/notifier` and review the diff.
"""

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from services.notifier.domain import LOCALES, Template
from services.notifier.preview import sample_facts
from services.notifier.rendering import Renderer

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
        payment_method="<i>Visa</i> •••• 4242",
        reference='"><img src=x>',
    )
    html = renderer.render(Template.ENROLLED, "en", facts).html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html
    assert "&lt;b&gt;cus&lt;/b&gt;" in html
    assert "&lt;i&gt;Visa&lt;/i&gt; •••• 4242" in html
    assert "<img" not in html


def test_a_template_that_names_an_unknown_variable_fails_instead_of_sending_a_blank(tmp_path):
    (tmp_path / "enrolled").mkdir()
    (tmp_path / "enrolled" / "subject.en.txt.j2").write_text("{{ customer_nmae }}")
    with pytest.raises(UndefinedError):
        Renderer(tmp_path).render(Template.ENROLLED, "en", sample_facts(Template.ENROLLED, "en"))
