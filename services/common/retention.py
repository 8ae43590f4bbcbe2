"""Forgetting dedupe records once they are older than any replay: `DEDUPE_RETENTION_DAYS`.

A service remembers the ids it has handled so that a redelivery or a replay changes nothing;
past the topics' retention no record with that id can come back, so the memory may go. The
purge deletes in small batches, each its own short transaction that skips locked rows, so the
consumers' transactions never wait long on it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

log = logging.getLogger(__name__)

# (connection, cutoff, limit) → how many rows older than the cutoff it deleted (≤ limit).
Purge = Callable[[asyncpg.Connection, datetime, int], Awaitable[int]]

BATCH = 500
PAUSE_SECONDS = 0.05
EVERY = timedelta(hours=1)


async def purge_old(
    pool: asyncpg.Pool, purges: Sequence[Purge], *, retention: timedelta, batch: int = BATCH
) -> int:
    """Run each purge in batches until it finds nothing older than `retention`; return the
    number of rows deleted."""
    cutoff = datetime.now(UTC) - retention
    total = 0
    for purge in purges:
        while True:
            async with pool.acquire() as connection:
                deleted = await purge(connection, cutoff, batch)
            total += deleted
            if deleted < batch:
                break
            await asyncio.sleep(PAUSE_SECONDS)  # room for the consumers between batches
    return total


async def purge_periodically(
    pool: asyncpg.Pool, purges: Sequence[Purge], *, retention: timedelta, every: timedelta = EVERY
) -> None:
    """Purge at start-up, then every `every`, until cancelled; a failed run waits for the next."""
    while True:
        try:
            deleted = await purge_old(pool, purges, retention=retention)
            if deleted:
                log.info("forgot %d records older than %s", deleted, retention)
        except Exception:
            log.exception("purge of old records failed; next try in %s", every)
        await asyncio.sleep(every.total_seconds())
