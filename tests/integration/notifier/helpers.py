"""Events, settings and the notifier's use-cases over a pool, for the notifier's tests."""

import uuid

import asyncpg

from services.common.contract import (
    DEFAULT_PORTAL_SETTINGS,
    AutopayChoiceRecorded,
    Notification,
    PaymentMethod,
    PortalSettingsChanged,
)
from services.common.envelope import CloudEvent, new_event
from services.notifier import service
from services.notifier.delivery import EmailDelivery
from services.notifier.mailer import Mailer
from services.notifier.recorder import ChoiceRecorder
from services.notifier.repository import PostgresStore
from services.notifier.sender import Sender


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def settings_changed(
    merchant_id: str, emails: list[str], *, locale: str = "en", version: int = 1
) -> CloudEvent[PortalSettingsChanged]:
    return new_event(
        PortalSettingsChanged(
            merchant_id=merchant_id,
            version=version,
            settings=DEFAULT_PORTAL_SETTINGS,
            notification=Notification(emails=emails, locale=locale),
            previous=None,
            changed_by="test",
        ),
        source="/tests/settings",
        subject=merchant_id,
    )


def choice_recorded(merchant_id: str, **changes) -> CloudEvent[AutopayChoiceRecorded]:
    fields = dict(
        merchant_id=merchant_id,
        customer_id=unique("cus"),
        customer_name="Ada Lovelace",
        payment_method=PaymentMethod(id="pm_1", type="card", brand="visa", last4="4242"),
        channel="customer_portal",
        auto_process=True,
        decided_by="customer",
        box_default_checked=False,
        settings_version=1,
        caused_by=unique("pma"),
    )
    return new_event(AutopayChoiceRecorded(**(fields | changes)), source="/tests/autopay")


def sender(pool: asyncpg.Pool, mailer: Mailer, **options) -> Sender:
    """A sender over `pool`; `options` are EmailDelivery's (mail_from has a default)."""
    options.setdefault("mail_from", "n@p.example")
    return Sender(pool, EmailDelivery(PostgresStore(pool), mailer, **options))


async def project(pool: asyncpg.Pool, *events: CloudEvent[PortalSettingsChanged]) -> None:
    await service.project_settings(PostgresStore(pool), events)


def recorder(pool: asyncpg.Pool, *, settings_wait: float = 10.0) -> ChoiceRecorder:
    store = PostgresStore(pool, settings_wait=settings_wait)
    return ChoiceRecorder(store, settings_wait=settings_wait)
