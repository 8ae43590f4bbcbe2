"""Prometheus metrics of every service, served at `/metrics` (no token needed).

Counters are incremented once per batch or chunk on the hot paths, never per event. Gauges
that need a query (outbox backlog, consumer lag) are refreshed when `/metrics` is scraped.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVENTS_CONSUMED = Counter(
    "portal_autopay_events_consumed_total",
    "Events consumed, by topic and outcome (processed, duplicate, dead_lettered, parked); "
    "`reason` says why one was dead-lettered.",
    ["topic", "outcome", "reason"],
)
DECISIONS = Counter(
    "portal_autopay_decisions_total",
    "AutoPay decisions recorded, by who decided and the flag given.",
    ["decided_by", "auto_process"],
)
EMAILS = Counter(
    "portal_autopay_emails_total",
    "Email attempts, by outcome (sent, retrying, given_up).",
    ["outcome"],
)
OUTBOX_BACKLOG = Gauge(
    "portal_autopay_outbox_backlog",
    "Rows waiting in an outbox (events to publish; the notifier's emails to send).",
    ["outbox"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "portal_autopay_outbox_oldest_age_seconds",
    "Age of the oldest row waiting in an outbox (0 when empty).",
    ["outbox"],
)
CONSUMER_LAG = Gauge(
    "portal_autopay_consumer_lag",
    "Records on a partition not yet consumed by the group (high watermark - position).",
    ["group", "topic", "partition"],
)
HTTP_REQUESTS = Counter(
    "portal_autopay_http_requests_total",
    "HTTP requests, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "portal_autopay_http_request_duration_seconds",
    "HTTP request latency, by route template.",
    ["route"],
)

Refresh = Callable[[], Awaitable[None]]


def consumed(topic: str, outcome: str, count: int = 1, reason: str = "") -> None:
    if count:
        EVENTS_CONSUMED.labels(topic, outcome, reason).inc(count)


def router(refreshers: list[Refresh]) -> APIRouter:
    """`/metrics`; `refreshers` (filled in by the lifespan) update the gauges first."""
    routes = APIRouter(tags=["health"])

    @routes.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        # A failing refresher (PostgreSQL down) leaves its gauges as they were.
        await asyncio.gather(*(refresh() for refresh in refreshers), return_exceptions=True)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return routes


class RequestMetrics:
    """Counts each request by its route template (`/v1/merchants/{merchant_id}/…`), never by
    its concrete path, so that ids do not multiply the series."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)


def backlog_refresher(pool: asyncpg.Pool, name: str, table: str, where: str = "TRUE") -> Refresh:
    """Refreshes the backlog gauges of outbox `name` from `table` (rows matching `where`)."""

    async def refresh() -> None:
        async with pool.acquire(timeout=2) as connection:
            count, age = await connection.fetchrow(
                f"SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                f" FROM {table} WHERE {where}",
                timeout=2,
            )
        OUTBOX_BACKLOG.labels(name).set(count)
        OUTBOX_OLDEST_AGE.labels(name).set(float(age))

    return refresh


def install(app: FastAPI, refreshers: list[Refresh]) -> None:
    """`/metrics` and the HTTP request metrics (outermost, so that every answer is counted)."""
    app.include_router(router(refreshers))
    app.add_middleware(RequestMetrics)
