"""Builders of the autopay tests' input events, and readers of its output."""

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
from aiokafka import ConsumerRecord

from services.autopay.app import create_app
from services.autopay.choices import decided
from services.autopay.records import Decided
from services.autopay.repository import PostgresDecisions
from services.common import outbox
from services.common.config import Config
from services.common.contract import (
    DEFAULT_NOTIFICATION,
    DEFAULT_PORTAL_SETTINGS,
    PaymentMethod,
    PaymentMethodAdded,
    PortalSettingsChanged,
)
from services.common.envelope import CloudEvent, new_event
from tests.auth import platform
from tests.support import header


def settings_changed(merchant_id: str, version: int, **switches: bool) -> CloudEvent:
    data = PortalSettingsChanged(
        merchant_id=merchant_id,
        version=version,
        settings=DEFAULT_PORTAL_SETTINGS.model_copy(update=switches),
        notification=DEFAULT_NOTIFICATION,
        previous=None,
        changed_by="merchant@example.com",
    )
    return new_event(data, source="/tests/settings", subject=merchant_id)


def payment_method_added(
    merchant_id: str,
    customer_id: str,
    payment_method_id: str = "pm_1",
    *,
    channel: str = "customer_portal",
    box: bool | None = None,
    version: int | None = None,
) -> CloudEvent:
    data = PaymentMethodAdded(
        merchant_id=merchant_id,
        customer_id=customer_id,
        customer_name="Ada Lovelace",
        payment_method=PaymentMethod(id=payment_method_id, type="card", brand="visa", last4="4242"),
        channel=channel,
        use_for_autopay=box,
        portal_settings_version=version,
    )
    return new_event(data, source="/tests/payments")


def choices_by_cause(records: list[ConsumerRecord]) -> dict[str, dict]:
    """AutopayChoiceRecorded data by the id of the event that caused it.

    Fails when one input caused two different events. The same event (same `ce_id`) twice is
    one event: the outbox relay repeats a record whose deletion a crash interrupted, and
    consumers dedupe on the id.
    """
    choices: dict[str, dict] = {}
    ids: dict[str, str] = {}
    for record in records:
        assert header(record, "ce_type") == "AutopayChoiceRecorded"
        data = json.loads(record.value)
        cause, event_id = data["caused_by"], header(record, "ce_id")
        assert ids.setdefault(cause, event_id) == event_id, f"two choices for {cause}"
        choices[cause] = data
    return choices


async def profiles(config: Config) -> dict[str, dict]:
    """Every payment profile, by the id of the event that decided it."""
    connection = await asyncpg.connect(config.database_url)
    try:
        rows = await connection.fetch("SELECT * FROM autopay.payment_profiles")
    finally:
        await connection.close()
    return {row["caused_by"]: dict(row) for row in rows}


async def processed_count(config: Config) -> int:
    connection = await asyncpg.connect(config.database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM autopay.processed_events")
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def autopay_in_process(config: Config) -> AsyncIterator[httpx.AsyncClient]:
    """The real service (consumers, relay, routes) in this process; yields an HTTP client."""
    app = create_app(config)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://autopay", headers=platform()
        ) as client,
    ):
        yield client


ALLOWED = DEFAULT_PORTAL_SETTINGS.model_copy(update={"allow_customer_autopay_changes": True})


async def decide_directly(pool, event):
    """Decide one PaymentMethodAdded with the decisions' SQL, as the service does."""
    profile, choice = decided(event, {1: ALLOWED}, datetime.now(UTC))
    async with pool.acquire() as connection:
        await PostgresDecisions(connection).record(
            Decided([event.id], [profile], [(event.id, outbox.encode([choice])[0])])
        )


async def history(pool) -> list[dict]:
    rows = await pool.fetch("SELECT * FROM autopay.profile_history ORDER BY id")
    return [dict(row) for row in rows]
