"""The FastAPI application of a service with an API, built alike for each: the same request
guard, health and metrics routes, errors as JSON, API tokens checked, and a lifespan that
opens the service's infrastructure before the service's own part runs."""

import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from services.common import metrics
from services.common.auth import Authenticator
from services.common.config import Config
from services.common.guard import RequestGuard
from services.common.http import Check, health_router
from services.common.problems import known_query_only
from services.common.runtime import Infrastructure, infrastructure


@dataclass
class Health:
    """Filled by the lifespan once its pools and consumers exist; read by the routes."""

    checks: dict[str, Check] = field(default_factory=dict)
    refreshers: list[metrics.Refresh] = field(default_factory=list)


# The service's part of the lifespan: it builds its use-cases and workers on the open
# infrastructure, fills `Health`, and runs them until the context exits.
Serve = Callable[[FastAPI, Infrastructure, Health], AbstractAsyncContextManager[None]]


def service_app(
    config: Config,
    title: str,
    *,
    schema: str,
    migrations: tuple[Path, ...],
    serve: Serve,
    routes: APIRouter,
    install_error_handlers: Callable[[FastAPI], None],
    description: str = "",
) -> FastAPI:
    """Raises AuthNotConfigured when the service could not check API tokens: at start-up,
    not at its first request."""
    authenticator = Authenticator(config)
    health = Health()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with infrastructure(config, schema, *migrations) as infra:
            health.checks.update(infra.readiness_checks())
            async with serve(app, infra, health):
                yield

    app = FastAPI(
        title=title,
        description=description,
        lifespan=lifespan,
        dependencies=[Depends(known_query_only)],
    )
    app.state.authenticator = authenticator
    app.include_router(health_router(health.checks))
    app.include_router(routes)
    install_error_handlers(app)
    app.add_middleware(RequestGuard)
    metrics.install(app, health.refreshers)
    return app
