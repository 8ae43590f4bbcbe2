"""What the outbox stores: events encoded once, written in the caller's transaction."""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.common.contract import EVENT_TOPICS, ContractModel, record_key
from services.common.db import as_json
from services.common.envelope import CloudEvent, Headers, encode_binary

MIGRATIONS = Path(__file__).parents[1] / "migrations"


def channel(schema: str) -> str:
    """The channel `enqueue` notifies: the relay listens on it."""
    return f"{schema}_outbox"


@dataclass(slots=True)  # not frozen: one per event, built four times faster
class OutboxRecord:
    """An event as the outbox stores it: ready to be sent as it is."""

    topic: str
    key: str
    event_id: str
    headers: Headers
    value: bytes


def encode(events: Iterable[CloudEvent[ContractModel]]) -> list[OutboxRecord]:
    """The outbox records of `events`, as `enqueue` stores them."""
    records = []
    for event in events:
        headers, value = encode_binary(event)
        records.append(
            OutboxRecord(
                EVENT_TOPICS[type(event.data)], record_key(event.data), event.id, headers, value
            )
        )
    return records


def stored_headers(record: OutboxRecord) -> str:
    """The `headers` column of a record (JSON: a list of [name, value] pairs)."""
    return as_json([[name, raw.decode()] for name, raw in record.headers])


async def enqueue(
    connection: asyncpg.Connection,
    schema: str,
    events: Iterable[CloudEvent[ContractModel]],
    *,
    notify: bool = True,
) -> list[OutboxRecord]:
    """Record `events` for publication, in the caller's transaction, and wake the relay.

    Returns the records written, for a caller that publishes them itself once committed
    (`publish_committed`); such a caller passes `notify=False`, leaving the relay asleep.
    """
    records = encode(events)
    if not records:
        return records
    # One round trip: COPY would first ask for the table's column types, on every call.
    await connection.execute(
        f"""
        WITH inserted AS (
            INSERT INTO "{schema}".outbox (topic, key, event_id, headers, value)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::bytea[])
            RETURNING 1
        )
        SELECT CASE WHEN $6 THEN pg_notify($7, '') END
        FROM (SELECT count(*) FROM inserted) AS done
        """,
        [record.topic for record in records],
        [record.key for record in records],
        [record.event_id for record in records],
        [stored_headers(record) for record in records],
        [record.value for record in records],
        notify,
        channel(schema),
    )
    return records
