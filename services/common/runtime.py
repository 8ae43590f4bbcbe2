"""What every service opens at start-up and closes at shutdown, in one place."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common import db, kafka
from services.common.config import Config
from services.common.http import Check


@dataclass(frozen=True)
class Infrastructure:
    config: Config
    pool: asyncpg.Pool
    producer: AIOKafkaProducer

    def readiness_checks(self) -> dict[str, Check]:
        return {
            "postgres": lambda: db.ping(self.pool),
            "kafka": lambda: kafka.ping(self.producer),
        }


@contextlib.asynccontextmanager
async def infrastructure(
    config: Config, schema: str, *migrations: Path
) -> AsyncIterator[Infrastructure]:
    """A migrated connection pool for `schema` and a started producer."""
    pool = await db.create_pool(config.database_url, size=config.database_pool_size)
    try:
        await db.migrate(pool, schema, *migrations)
        producer = kafka.make_producer(config)
        await producer.start()
        try:
            yield Infrastructure(config, pool, producer)
        finally:
            await producer.stop()
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def background(*jobs: Coroutine) -> AsyncIterator[None]:
    """Run `jobs` as tasks for the duration of the block, then cancel and await them."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
