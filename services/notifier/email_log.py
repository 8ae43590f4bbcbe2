"""One JSON log line per email attempt: ids and outcome, never a full address or card data."""

import logging
import re

from services.common import metrics
from services.notifier.service import Outcome, QueuedEmail

log = logging.getLogger("services.notifier.emails")

# The merchant id travels with the email's facts (not a template variable: the log's).
MERCHANT_FACT = "merchant_id"
_ADDRESS = re.compile(r"([A-Za-z0-9])[A-Za-z0-9._%+'-]*@")
# What an attempt's status means for the email: sent, retried later, or given up.
_OUTCOMES = {"sent": "sent", "pending": "retrying", "failed": "given_up"}


def mask_addresses(text: str) -> str:
    """`billing@shop.example` → `b***@shop.example`, wherever it appears in `text`."""
    return _ADDRESS.sub(r"\1***@", text)


def log_attempt(email: QueuedEmail, outcome: Outcome) -> None:
    result = _OUTCOMES[outcome.status]
    metrics.EMAILS.labels(result).inc()
    fields = {
        "merchant_id": email.facts.get(MERCHANT_FACT),
        "customer_id": email.facts.get("customer_id"),
        "event_id": email.event_id,
        "recipient": mask_addresses(email.recipient),
        "template": email.template,
        "outcome": result,
    }
    if outcome.error is not None:
        fields["error"] = mask_addresses(outcome.error)
    if outcome.retry_at is not None:
        fields["next_attempt_at"] = outcome.retry_at.isoformat()
    level = logging.INFO if result == "sent" else logging.WARNING
    log.log(level, f"email {result.replace('_', ' ')}", extra={"fields": fields})
