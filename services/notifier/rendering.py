"""Turn an email's facts into words: subject, plain text and HTML, from jinja2 templates.

Templates live under `templates/<template>/` as `subject.<locale>.txt.j2`,
`body.<locale>.txt.j2` and `body.<locale>.html.j2`, on shared layouts. HTML templates are
autoescaped (their names end in `.html.j2`); every template is StrictUndefined, so a
misspelt variable fails the preview and the golden tests instead of sending a blank.
"""

from dataclasses import dataclass, fields
from datetime import UTC
from pathlib import Path

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifier.domain import EmailFacts, Template, header_text

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self._environment = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(["html.j2"], default_for_string=False, default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are files shipped with the code: no stat() per email to see if they changed.
            auto_reload=False,
        )

    def render(self, template: Template, locale: str, facts: EmailFacts) -> RenderedEmail:
        context = {field.name: getattr(facts, field.name) for field in fields(facts)} | {
            "locale": locale,
            "occurred_at": format_datetime(facts.occurred_at, "long", tzinfo=UTC, locale=locale),
        }
        subject = header_text(self._render(f"{template}/subject.{locale}.txt.j2", context))
        context["subject"] = subject
        return RenderedEmail(
            subject=subject,
            text=self._render(f"{template}/body.{locale}.txt.j2", context).strip() + "\n",
            html=self._render(f"{template}/body.{locale}.html.j2", context).strip() + "\n",
        )

    def _render(self, name: str, context: dict) -> str:
        return self._environment.get_template(name).render(context)
