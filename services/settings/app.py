"""Composition root of the settings service: pool, producer, outbox relay, HTTP routes."""

import contextlib
from pathlib import Path

from fastapi import Depends, FastAPI

from services.common import metrics, outbox
from services.common.auth import Authenticator
from services.common.config import Config
from services.common.contract import PortalSettingsChanged
from services.common.guard import RequestGuard
from services.common.http import health_router
from services.common.problems import known_query_only
from services.common.publishers import declare_events
from services.common.runtime import background, infrastructure
from services.common.subscription import consumer_broker
from services.settings import http, problems
from services.settings.repository import SCHEMA, PostgresStore
from services.settings.service import SettingsService

MIGRATIONS = Path(__file__).parent / "migrations"
SENDS = (PortalSettingsChanged,)


def create_app(config: Config) -> FastAPI:
    """Raises AuthNotConfigured when the service could not check API tokens."""
    authenticator = Authenticator(config)
    checks = {}
    refreshers: list[metrics.Refresh] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with infrastructure(config, SCHEMA, outbox.MIGRATIONS, MIGRATIONS) as infra:
            checks.update(infra.readiness_checks())
            refreshers.append(metrics.backlog_refresher(infra.pool, "settings", "settings.outbox"))
            app.state.settings_service = SettingsService(PostgresStore(infra.pool))
            relay = outbox.OutboxRelay(infra.pool, SCHEMA, infra.producer, config.topic)
            async with background(relay.run()):
                yield

    app = FastAPI(
        title="portal-autopay settings",
        description="Merchants' customer-portal AutoPay settings, versioned. Every change "
        "is published once as PortalSettingsChanged on portal.settings.changed.",
        lifespan=lifespan,
        dependencies=[Depends(known_query_only)],
    )
    app.state.authenticator = authenticator
    # Never started: it describes what the service sends; the relay sends (see publishers.py).
    app.state.broker = consumer_broker(config)
    declare_events(app.state.broker, config, *SENDS)
    app.include_router(health_router(checks))
    app.include_router(http.router())
    problems.install_error_handlers(app)
    app.add_middleware(RequestGuard)
    metrics.install(app, refreshers)
    return app
