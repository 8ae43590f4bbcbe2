"""Turn an email's facts into words (jinja2 templates) and words into a MIME message.

Templates live under `templates/<template>/` as `subject.<locale>.txt.j2`,
`body.<locale>.txt.j2` and `body.<locale>.html.j2`, on shared layouts. HTML templates are
autoescaped (their names end in `.html.j2`); every template is StrictUndefined, so a
misspelt variable fails the preview and the golden tests instead of sending a blank.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from pathlib import Path

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifier.domain import EmailFacts, Template, header_text

TEMPLATES = Path(__file__).parent / "templates"

# Headers are written on one line (RFC 5322 allows 998 characters; a subject stays far
# below): Python's folding of a long subject can double a space before an encoded word.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


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
        )

    def render(self, template: Template, locale: str, facts: EmailFacts) -> RenderedEmail:
        context = asdict(facts) | {
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


def compose(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """A multipart/alternative message (plain text first, then HTML).

    Every header value goes through `header_text`, and EmailMessage's default policy
    refuses any line break left in a header: an event value cannot add a header.
    """
    message = EmailMessage()
    message["Subject"] = header_text(rendered.subject)
    message["From"] = header_text(sender)
    message["To"] = header_text(recipient)
    message["Date"] = rfc2822_date(date)
    message["Message-ID"] = message_id
    # Tells auto-responders (out-of-office replies) not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as sent over SMTP and written to `.eml` files (CRLF line endings)."""
    return message.as_bytes(policy=WIRE_POLICY)
