"""The customer-changes use-cases over real PostgreSQL: rows, history, outbox, parked requests."""

import json
from datetime import UTC, datetime, timedelta

from services.autopay.customer_changes import CustomerChanges
from services.autopay.customer_changes_repository import PostgresChanges
from services.autopay.projection import PostgresSettingsProjection
from services.autopay.records import SettingsRow
from services.autopay.waiting_requests import WaitingRequests
from services.common.contract import (
    DEFAULT_PORTAL_SETTINGS,
    AutopayChangeRequested,
    PaymentMethodRemoved,
)
from services.common.envelope import new_event
from tests.integration.autopay.events import ALLOWED, payment_method_added
from tests.integration.autopay.events import decide_directly as _decide
from tests.integration.autopay.events import history as _history


def request(auto_process: bool, pm: str = "pm_1", version: int | None = 1):
    data = AutopayChangeRequested(
        merchant_id="m",
        customer_id="c",
        payment_method_id=pm,
        auto_process=auto_process,
        portal_settings_version=version,
        requested_by="ada@example.com",
    )
    return new_event(data, source="/tests/portal")


def removal(pm: str = "pm_1"):
    data = PaymentMethodRemoved(
        merchant_id="m", customer_id="c", payment_method_id=pm, channel="customer_portal"
    )
    return new_event(data, source="/tests/payments")


async def _changes(pool, wait: float = 5.0) -> CustomerChanges:
    async with pool.acquire() as connection:
        await PostgresSettingsProjection(connection).record(
            [
                SettingsRow("m", 1, ALLOWED, "s1"),
                SettingsRow("m", 2, DEFAULT_PORTAL_SETTINGS, "s2"),
            ]
        )

    async def publish(records):
        pass

    return CustomerChanges(PostgresChanges(pool, WaitingRequests(wait)), publish, wait=wait)


async def _outbox_types(pool) -> list[str]:
    rows = await pool.fetch("SELECT headers FROM autopay.outbox ORDER BY id")
    return [dict(json.loads(row["headers"]))["ce_type"] for row in rows]


async def test_off_then_on_leaves_three_history_rows_and_two_choices(pool):
    changes = await _changes(pool)
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=True, version=1))
    await changes.record_requests([request(False)])
    await changes.record_requests([request(True)])
    history = await _history(pool)
    assert [(h["auto_process"], h["trigger"]) for h in history] == [
        (True, "payment_method_added"),
        (False, "customer_changed"),
        (True, "customer_changed"),
    ]
    assert await _outbox_types(pool) == ["AutopayChoiceRecorded"] * 3


async def test_a_forbidden_change_is_rejected_and_writes_no_history(pool):
    changes = await _changes(pool)
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=True, version=1))
    await changes.record_requests([request(False, version=2)])
    assert len(await _history(pool)) == 1
    assert (await _outbox_types(pool))[-1] == "AutopayChangeRejected"


async def test_a_waiting_request_is_applied_once_its_payment_method_arrives(pool):
    changes = await _changes(pool)
    added = payment_method_added("m", "c", "pm_1", box=True, version=1)
    await changes.record_requests([request(False)])  # later than `added`, arrived first
    assert await changes.release_parked() is False
    await _decide(pool, added)
    assert await changes.release_parked() is True
    assert [h["auto_process"] for h in await _history(pool)] == [True, False]


async def test_a_request_past_its_bound_is_rejected_as_unknown(pool):
    changes = await _changes(pool, wait=0.01)
    await changes.record_requests([request(False)])
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not await changes.release_parked():
        assert datetime.now(UTC) < deadline, "the request never left the parking lot"
    assert await _outbox_types(pool) == ["AutopayChangeRejected"]


async def test_a_removal_keeps_the_profile_marked_removed_and_off(pool):
    changes = await _changes(pool)
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=True, version=1))
    await changes.record_removals([removal()])
    row = await pool.fetchrow("SELECT * FROM autopay.payment_profiles")
    assert (row["auto_process"], row["removed_at"] is not None, row["trigger"]) == (
        False,
        True,
        "payment_method_removed",
    )
    assert [h["removed"] for h in await _history(pool)] == [False, True]
