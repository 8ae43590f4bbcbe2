"""Composition root of the autopay service: pools, consumers, relay, HTTP routes."""

import contextlib
from pathlib import Path

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.common import outbox
from services.common.config import Config
from services.common.http import health_router
from services.common.runtime import background, infrastructure

SCHEMA = "autopay"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Config) -> FastAPI:
    checks = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with infrastructure(config, SCHEMA, outbox.MIGRATIONS, MIGRATIONS) as infra:
            checks.update(infra.readiness_checks())
            broker = KafkaBroker(
                config.kafka_bootstrap_servers,
                enable_idempotence=config.kafka_enable_idempotence,
            )
            relay = outbox.OutboxRelay(infra.pool, SCHEMA, infra.producer, config.topic)
            await broker.start()
            try:
                async with background(relay.run()):
                    yield
            finally:
                await broker.stop()

    app = FastAPI(title="portal-autopay autopay", lifespan=lifespan)
    app.include_router(health_router(checks))
    return app
