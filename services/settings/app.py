"""Composition root of the settings service: pool, producer, outbox relay, HTTP routes."""

import contextlib
from pathlib import Path

from fastapi import FastAPI

from services.common import metrics, outbox
from services.common.config import Config
from services.common.contract import PortalSettingsChanged
from services.common.publishers import declare_events
from services.common.runtime import Infrastructure, background
from services.common.service_app import Health, service_app
from services.common.subscription import consumer_broker
from services.settings import http, problems
from services.settings.repository import SCHEMA, PostgresStore
from services.settings.service import SettingsService

MIGRATIONS = (outbox.MIGRATIONS, Path(__file__).parent / "migrations")
SENDS = (PortalSettingsChanged,)


def create_app(config: Config) -> FastAPI:
    """Raises AuthNotConfigured when the service could not check API tokens."""

    @contextlib.asynccontextmanager
    async def serve(app: FastAPI, infra: Infrastructure, health: Health):
        health.refreshers.append(
            metrics.backlog_refresher(infra.pool, "settings", "settings.outbox")
        )
        app.state.settings_service = SettingsService(PostgresStore(infra.pool))
        relay = outbox.OutboxRelay(infra.pool, SCHEMA, infra.producer, config.topic)
        async with background(relay.run()):
            yield

    app = service_app(
        config,
        "portal-autopay settings",
        schema=SCHEMA,
        migrations=MIGRATIONS,
        serve=serve,
        routes=http.router(),
        install_error_handlers=problems.install_error_handlers,
        description="Merchants' customer-portal AutoPay settings, versioned. Every change "
        "is published once as PortalSettingsChanged on portal.settings.changed.",
    )
    # Never started: it describes what the service sends; the relay sends (see publishers.py).
    app.state.broker = consumer_broker(config)
    declare_events(app.state.broker, config, *SENDS)
    return app
