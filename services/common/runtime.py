"""What every service opens at start-up and closes at shutdown, in one place."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.common import db, kafka, kafka_security
from services.common.config import Config
from services.common.http import Check
from services.common.logs import describe_failure

log = logging.getLogger(__name__)


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
        try:
            await producer.start()
        except KafkaError as error:
            # Wrong credentials, an untrusted certificate, no broker: say which, and stop.
            message = (
                f"cannot connect to Kafka at {kafka_security.describe(config)}: "
                f"{describe_failure(error)}"
            )
            log.critical(message)
            raise RuntimeError(message) from None
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
