"""Composition root of the settings service: pools, relay, HTTP routes."""

import contextlib
from pathlib import Path

from fastapi import FastAPI

from services.common import outbox
from services.common.config import Config
from services.common.http import health_router
from services.common.runtime import background, infrastructure

SCHEMA = "settings"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Config) -> FastAPI:
    checks = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with infrastructure(config, SCHEMA, outbox.MIGRATIONS, MIGRATIONS) as infra:
            checks.update(infra.readiness_checks())
            relay = outbox.OutboxRelay(infra.pool, SCHEMA, infra.producer, config.topic)
            async with background(relay.run()):
                yield

    app = FastAPI(title="portal-autopay settings", lifespan=lifespan)
    app.include_router(health_router(checks))
    return app
