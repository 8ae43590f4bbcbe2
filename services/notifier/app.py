"""Composition root of the notifier service: pools, consumers, mailer, HTTP routes."""

import contextlib
from pathlib import Path

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.common.config import Config
from services.common.http import health_router
from services.common.runtime import infrastructure

SCHEMA = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Config) -> FastAPI:
    checks = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with infrastructure(config, SCHEMA, MIGRATIONS) as infra:
            checks.update(infra.readiness_checks())
            broker = KafkaBroker(
                config.kafka_bootstrap_servers,
                enable_idempotence=config.kafka_enable_idempotence,
            )
            await broker.start()
            try:
                yield
            finally:
                await broker.stop()

    app = FastAPI(title="portal-autopay notifier", lifespan=lifespan)
    app.include_router(health_router(checks))
    return app
