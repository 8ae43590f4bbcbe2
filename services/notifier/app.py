"""Composition root of the notifier service: pools, consumers, mailer, HTTP routes."""

import asyncio
import contextlib
from pathlib import Path

from fastapi import FastAPI

from services.common import metrics, parking_lot, problems, retention, subscription
from services.common.config import Config
from services.common.consumer_health import ConsumerHealth
from services.common.guard import RequestGuard
from services.common.http import health_router
from services.common.runtime import background, infrastructure
from services.common.subscription import consumer_broker
from services.notifier import repository, service, subscribers
from services.notifier.delivery import EmailDelivery
from services.notifier.domain import RetryPolicy
from services.notifier.mailer import make_mailer
from services.notifier.recorder import ChoiceRecorder
from services.notifier.repository import PostgresStore
from services.notifier.sender import Sender

SCHEMA = "notifier"
MIGRATIONS = (parking_lot.MIGRATIONS, Path(__file__).parent / "migrations")


def create_app(config: Config, *, group_ids: tuple[str, str] | None = None) -> FastAPI:
    """`group_ids` (settings, choices) overrides the consumer groups: tests replay with it."""
    settings_group, choices_group = group_ids or subscribers.groups(config)
    checks = {}
    refreshers: list[metrics.Refresh] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with infrastructure(config, SCHEMA, *MIGRATIONS) as infra:
            checks.update(infra.readiness_checks())
            mailer = make_mailer(
                config.smtp_url,
                timeout=config.smtp_timeout_seconds,
                outbox_dir=config.mail_outbox_dir,
                ca_file=config.smtp_ca_file,
            )
            wait = config.notifier_settings_wait_seconds
            store = PostgresStore(infra.pool, settings_wait=wait)
            delivery = EmailDelivery(
                store,
                mailer,
                mail_from=config.mail_from,
                retry=RetryPolicy(give_up_after=config.notifier_give_up_after),
            )
            sender = Sender(infra.pool, delivery)
            recorder = ChoiceRecorder(store, settings_wait=wait)

            async def project_settings(events) -> None:
                await service.project_settings(store, events)
                recorder.settings_arrived()

            # One broker per consumer group: a broker starts its subscribers one after the
            # other, and each group join takes seconds; two brokers join at the same time.
            settings_broker, choices_broker = consumer_broker(config), consumer_broker(config)
            checks[f"consumer {settings_group}"] = subscribers.subscribe_settings(
                settings_broker,
                config,
                infra.producer,
                project_settings,
                group_id=settings_group,
            )
            checks[f"consumer {choices_group}"] = subscribers.subscribe_choices(
                choices_broker,
                config,
                infra.producer,
                recorder,
                group_id=choices_group,
            )
            for name, broker in (("settings", settings_broker), ("choices", choices_broker)):
                progress = ConsumerHealth(broker)
                checks[f"consumers progress ({name})"] = progress.check
                refreshers.append(progress.lag)
            refreshers.append(
                metrics.backlog_refresher(
                    infra.pool, "notifier emails", "notifier.emails", "status = 'pending'"
                )
            )
            try:
                purge = retention.purge_periodically(
                    infra.pool, [repository.purge_choices], retention=config.dedupe_retention
                )
                async with background(sender.run(), purge, recorder.releaser.run()):
                    await asyncio.gather(settings_broker.start(), choices_broker.start())
                    try:
                        yield
                    finally:
                        await asyncio.gather(
                            subscription.stop(settings_broker),
                            subscription.stop(choices_broker),
                            sender.stop(grace=config.shutdown_grace_seconds),
                        )
            finally:
                await mailer.close()

    app = FastAPI(title="portal-autopay notifier", lifespan=lifespan)
    app.include_router(health_router(checks))
    problems.install(app)
    app.add_middleware(RequestGuard)
    metrics.install(app, refreshers)
    return app
