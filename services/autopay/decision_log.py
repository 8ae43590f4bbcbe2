"""One JSON log line per decision: ids and outcome, never card data or names."""

import logging
from collections import Counter
from collections.abc import Collection, Sequence

from services.autopay.records import ProfileRow
from services.common import metrics
from services.common.logs import log_lines

log = logging.getLogger("services.autopay.decisions")


def log_decisions(profiles: Sequence[ProfileRow], fresh: Collection[str]) -> None:
    """The decisions of input events recorded for the first time (`fresh` ids), logged and
    counted in one call per chunk: this is the hot path."""
    decided = [p for p in profiles if p.caused_by in fresh]
    for (decided_by, auto_process), count in Counter(
        (p.decided_by, p.auto_process) for p in decided
    ).items():
        metrics.DECISIONS.labels(decided_by, str(auto_process).lower()).inc(count)
    log_lines(
        log,
        "decided",
        [
            {
                "merchant_id": p.merchant_id,
                "customer_id": p.customer_id,
                "event_id": p.caused_by,
                "payment_method_id": p.payment_method_id,
                "auto_process": p.auto_process,
                "decided_by": p.decided_by,
                "settings_version": p.settings_version,
            }
            for p in decided
        ],
    )
