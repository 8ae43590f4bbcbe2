"""The outbox's claims over real PostgreSQL, whatever its statistics say.

The outbox is a queue: rows come and go. An ANALYZE (autovacuum runs one whenever enough rows
have changed) at a moment when it holds none leaves PostgreSQL believing it empty, its pages
still there. The claims must then still read only the rows they claim, through the indexes:
a plan chosen for an empty table once scanned the whole outbox for each row claimed, and the
publisher's claim of 1,000 rows took ~300 ms instead of ~5, pacing autopay at 1,650-4,900
events/s for the rest of a backlog.
"""

import json

import asyncpg
import pytest

from services.common import outbox
from services.common.outbox.publisher import _CLAIM
from services.common.outbox.relay import _RELAY_CLAIM
from tests.integration.autopay.events import payment_method_added
from tests.support import migrated_pool

SCHEMA = "plans_test"
ROWS = 1000
# A claim through the indexes reads ~10 buffers a row (measured: 9.4); one that scans the
# outbox for each row, ~1,000 (one per row in the outbox).
BUFFERS_PER_ROW = 30


async def enqueue(pool: asyncpg.Pool, count: int) -> list[str]:
    events = [payment_method_added("m1", f"c{n}", f"pm{n}") for n in range(count)]
    async with pool.acquire() as connection:
        await outbox.enqueue(connection, SCHEMA, events, notify=False)
    return [event.id for event in events]


@pytest.fixture
async def outbox_believed_empty(database_url):
    """An outbox whose statistics say empty while it holds `ROWS` rows, as after an ANALYZE
    between two bursts."""
    async with migrated_pool(database_url, SCHEMA, outbox.MIGRATIONS) as pool:
        await enqueue(pool, ROWS)
        await pool.execute(f'DELETE FROM "{SCHEMA}".outbox')
        await pool.execute(f'ANALYZE "{SCHEMA}".outbox')
        yield pool, await enqueue(pool, ROWS)


async def buffers_read(pool: asyncpg.Pool, statement: str, *args) -> tuple[float, int]:
    """(rows, buffers) of `statement` as executed, then rolled back."""
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            explained = await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", *args
            )
        finally:
            await transaction.rollback()
    plan = json.loads(explained)[0]["Plan"]
    return plan["Actual Rows"], plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]


async def test_the_publisher_claims_through_the_indexes(outbox_believed_empty):
    pool, event_ids = outbox_believed_empty
    rows, buffers = await buffers_read(pool, _CLAIM.format(schema=SCHEMA), event_ids)
    assert rows == ROWS
    assert buffers < BUFFERS_PER_ROW * ROWS


async def test_the_relay_claims_through_the_indexes(outbox_believed_empty):
    pool, _ = outbox_believed_empty
    rows, buffers = await buffers_read(pool, _RELAY_CLAIM.format(schema=SCHEMA), ROWS, 0.0)
    assert rows == ROWS
    assert buffers < BUFFERS_PER_ROW * ROWS
