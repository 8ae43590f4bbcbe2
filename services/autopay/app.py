"""Composition root of the autopay service: pools, consumers, relay, HTTP routes."""

import contextlib
from pathlib import Path

from fastapi import FastAPI

from services.autopay import http, subscribers
from services.autopay.customer_changes import CustomerChanges
from services.autopay.customer_changes_repository import PostgresChanges
from services.autopay.repository import SCHEMA, purge_processed_events
from services.autopay.service import AutopayService
from services.autopay.store import PostgresStore
from services.autopay.waiting_requests import WaitingRequests
from services.common import metrics, outbox, parking_lot, retention, subscription
from services.common.config import Config
from services.common.consumer_health import ConsumerHealth
from services.common.contract import AutopayChangeRejected, AutopayChoiceRecorded
from services.common.publishers import declare_events
from services.common.releaser import Releaser
from services.common.runtime import Infrastructure, background
from services.common.service_app import Health, service_app
from services.common.subscription import consumer_broker

MIGRATIONS = (outbox.MIGRATIONS, parking_lot.MIGRATIONS, Path(__file__).parent / "migrations")
RELAY_MIN_AGE_SECONDS = 5.0
SENDS = (AutopayChoiceRecorded, AutopayChangeRejected)


def create_app(config: Config) -> FastAPI:
    """Raises AuthNotConfigured when the service could not check API tokens."""

    @contextlib.asynccontextmanager
    async def serve(app: FastAPI, infra: Infrastructure, health: Health):
        checks, refreshers = health.checks, health.refreshers
        publisher = outbox.CommittedPublisher(infra.pool, SCHEMA, infra.producer, config.topic)
        wait = config.autopay_settings_wait_seconds
        store = PostgresStore(infra.pool, settings_wait=wait)
        service = AutopayService(store, publisher, settings_wait=wait)
        app.state.service = service
        changes = CustomerChanges(
            PostgresChanges(infra.pool, WaitingRequests(wait)), publisher.submit, wait=wait
        )
        app.state.changes = changes
        # Waiting requests go when their payment method is decided (polled) or at the bound.
        changes_releaser = Releaser(changes)
        broker = consumer_broker(config)
        declare_events(broker, config, *SENDS)
        consumers = subscribers.register(broker, service, infra.producer, config)
        consumers |= subscribers.register_customer_changes(broker, changes, infra.producer, config)
        checks.update({f"consumer {group}": check for group, check in consumers.items()})
        progress = ConsumerHealth(broker)
        checks["consumers progress"] = progress.check
        refreshers.extend(
            [metrics.backlog_refresher(infra.pool, "autopay", "autopay.outbox"), progress.lag]
        )
        # The publisher sends each batch's events once committed; the relay publishes what
        # a failed publish, a crash or a stop left behind.
        relay = outbox.OutboxRelay(
            infra.pool, SCHEMA, infra.producer, config.topic, min_age=RELAY_MIN_AGE_SECONDS
        )
        purge = retention.purge_periodically(
            infra.pool, [purge_processed_events], retention=config.dedupe_retention
        )
        tasks = (relay.run(), publisher.run(), purge, service.releaser.run())
        async with background(*tasks, changes_releaser.run()):
            await broker.start()
            try:
                yield
            finally:
                await subscription.stop(broker)
                await publisher.drain()

    return service_app(
        config,
        "portal-autopay autopay",
        schema=SCHEMA,
        migrations=MIGRATIONS,
        serve=serve,
        routes=http.router(),
        install_error_handlers=http.install_error_handlers,
    )
