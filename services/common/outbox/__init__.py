"""The transactional outbox: events committed with the state they describe, then relayed.

`enqueue` writes outgoing events in the caller's transaction. A writer may publish its own
rows right after its commit (`CommittedPublisher`); `OutboxRelay` publishes the rest, in id
order. Either one *claims* a row before sending it: it deletes (or locks) the row in a
transaction that commits only once the broker has acknowledged it, so a row is published by
one of them at a time, and never again once gone. A row is claimed only when no older row of
its key is still pending, so one merchant's or customer's events keep their order whoever
publishes them. A crash between the broker's acknowledgement and the commit re-publishes the
same records (same `ce_id`) later: at-least-once, with an id consumers dedupe on.
"""

from services.common.outbox.publisher import CommittedPublisher, publish_committed
from services.common.outbox.records import (
    MIGRATIONS,
    OutboxRecord,
    channel,
    encode,
    enqueue,
    stored_headers,
)
from services.common.outbox.relay import OutboxRelay

__all__ = [
    "MIGRATIONS",
    "CommittedPublisher",
    "OutboxRecord",
    "OutboxRelay",
    "channel",
    "encode",
    "enqueue",
    "publish_committed",
    "stored_headers",
]
