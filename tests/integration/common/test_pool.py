"""The shared connection pool over real PostgreSQL."""

import asyncio
import time

from services.common import db

DECISIONS_STATEMENT_BYTES = 300_000  # autopay's statement for a chunk of 250 events
STATEMENT = "SELECT clock_timestamp() FROM (SELECT length($1::bytea)) AS received"


async def test_a_large_statement_reaches_the_server_while_the_event_loop_is_busy(database_url):
    pool = await db.create_pool(database_url, size=1)
    try:
        async with pool.acquire() as connection:
            await connection.fetchval(STATEMENT, b"")  # prepared: next time, one write
            statement = asyncio.create_task(
                connection.fetchval(STATEMENT, b"x" * DECISIONS_STATEMENT_BYTES)
            )
            await asyncio.sleep(0)  # the task writes its statement
            # Blocking on purpose: the loop busy, as when autopay decides its next chunk.
            time.sleep(0.5)  # noqa: ASYNC251
            executed_at = await statement
            busy_until = await connection.fetchval("SELECT clock_timestamp()")
        # Sent in part, the rest would have waited for the loop: executed after the 0.5 s.
        assert (busy_until - executed_at).total_seconds() > 0.4
    finally:
        await pool.close()
