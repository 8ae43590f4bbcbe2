"""Issue 13's "Done when", over the real broker and PostgreSQL: customers change AutoPay later,
payment methods are removed, and the profile's history tells each change."""

import json
from datetime import timedelta

import asyncpg

from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    CHANGE_REJECTED_TOPIC,
    AutopayChangeRequested,
    PaymentMethodRemoved,
)
from services.common.envelope import new_event
from tests.integration.autopay.events import (
    autopay_in_process,
    payment_method_added,
    settings_changed,
)
from tests.support import TopicReader, eventually, publish

ALLOWED = {"allow_customer_autopay_changes": True}
HISTORY = "/v1/merchants/m/customers/{}/payment-profiles/pm_1/history"


def change(customer_id: str, auto_process: bool):
    data = AutopayChangeRequested(
        merchant_id="m",
        customer_id=customer_id,
        payment_method_id="pm_1",
        auto_process=auto_process,
        requested_by="ada@example.com",
    )
    return new_event(data, source="/tests/portal")


def removal(customer_id: str):
    data = PaymentMethodRemoved(
        merchant_id="m", customer_id=customer_id, payment_method_id="pm_1", channel="api"
    )
    return new_event(data, source="/tests/payments")


def data_of(records) -> list[dict]:
    return [json.loads(record.value) for record in records]


async def test_a_customer_turns_autopay_off_then_on_where_the_merchant_allows_it(config):
    async with (
        autopay_in_process(config) as http,
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
    ):
        await publish(config, settings_changed("m", 1, **ALLOWED))
        await publish(config, payment_method_added("m", "c1", box=True, version=1))
        await choices.wait_for(1)
        await publish(config, change("c1", False), change("c1", True))
        recorded = data_of(await choices.wait_for(3))
        response = await http.get(HISTORY.format("c1"))

    assert [(c["auto_process"], c["trigger"], c["decided_by"]) for c in recorded[1:]] == [
        (False, "customer_changed", "customer"),
        (True, "customer_changed", "customer"),
    ]
    assert response.status_code == 200
    history = response.json()["changes"]
    assert [(h["auto_process"], h["trigger"]) for h in history] == [
        (True, "customer_changed"),
        (False, "customer_changed"),
        (True, "payment_method_added"),
    ]


async def test_with_the_switch_off_both_changes_are_rejected(config):
    async with (
        autopay_in_process(config) as http,
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, CHANGE_REJECTED_TOPIC) as rejections,
    ):
        await publish(
            config, settings_changed("m", 1, auto_enable_autopay_on_new_payment_method=True)
        )
        await publish(config, payment_method_added("m", "c2", version=1))
        await choices.wait_for(1)
        await publish(config, change("c2", False), change("c2", True))
        rejected = data_of(await rejections.wait_for(2))
        assert len(await choices.settle()) == 1
        history = (await http.get(HISTORY.format("c2"))).json()["changes"]

    assert [r["reason"] for r in rejected] == ["customer_changes_not_allowed"] * 2
    assert [h["auto_process"] for h in history] == [True]


async def test_a_request_before_its_payment_method_is_applied_once_it_arrives(config):
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
    ):
        await publish(config, settings_changed("m", 1, **ALLOWED))
        added = payment_method_added("m", "c3", box=True, version=1)
        await publish(config, change("c3", False))  # asked after adding; arrived first
        await publish(config, added)
        recorded = data_of(await choices.wait_for(2))

    assert [(c["auto_process"], c["trigger"]) for c in recorded] == [
        (True, "payment_method_added"),
        (False, "customer_changed"),
    ]


async def test_a_removal_ends_autopay_and_later_requests_are_rejected(config):
    async with (
        autopay_in_process(config) as http,
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
        TopicReader(config, CHANGE_REJECTED_TOPIC) as rejections,
    ):
        await publish(config, settings_changed("m", 1, **ALLOWED))
        await publish(config, payment_method_added("m", "c4", box=True, version=1))
        await choices.wait_for(1)
        await publish(config, removal("c4"))
        recorded = data_of(await choices.wait_for(2))
        await publish(config, change("c4", True))
        rejected = data_of(await rejections.wait_for(1))
        history = (await http.get(HISTORY.format("c4"))).json()["changes"]

    assert (recorded[1]["auto_process"], recorded[1]["trigger"]) == (
        False,
        "payment_method_removed",
    )
    assert [r["reason"] for r in rejected] == ["payment_method_removed"]
    assert [h["removed"] for h in history] == [True, False]


async def test_a_removed_payment_method_stays_removed_and_is_no_longer_listed(config):
    async with (
        autopay_in_process(config) as http,
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
    ):
        await publish(config, settings_changed("m", 1, **ALLOWED))
        await publish(config, payment_method_added("m", "c6", box=True, version=1))
        await choices.wait_for(1)
        await publish(config, removal("c6"))
        await choices.wait_for(2)
        # Added again (a later ce_time), then another method: only the other one is decided.
        await publish(config, payment_method_added("m", "c6", box=True, version=1))
        await publish(config, payment_method_added("m", "c6", "pm_2", box=True, version=1))
        third = data_of(await choices.wait_for(3))[2]
        listed = (await http.get("/v1/merchants/m/customers/c6/payment-profiles")).json()
        history = (await http.get(HISTORY.format("c6"))).json()["changes"]

    assert third["payment_method"]["id"] == "pm_2"
    assert [p["payment_method_id"] for p in listed["profiles"]] == ["pm_2"]
    assert [h["removed"] for h in history] == [True, False]


async def test_a_replayed_and_a_late_request_change_nothing(config):
    async with (
        autopay_in_process(config) as http,
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
    ):
        await publish(config, settings_changed("m", 1, **ALLOWED))
        await publish(config, payment_method_added("m", "c5", box=True, version=1))
        await choices.wait_for(1)
        turned_off = change("c5", False)
        await publish(config, turned_off)
        await choices.wait_for(2)
        late = change("c5", True)
        late.time = turned_off.time - timedelta(minutes=5)
        await publish(config, turned_off, late)
        await eventually(lambda: _processed(config, late.id))
        assert len(await choices.settle()) == 2
        history = (await http.get(HISTORY.format("c5"))).json()["changes"]

    assert [h["auto_process"] for h in history] == [False, True]


async def _processed(config, event_id: str) -> bool:
    connection = await asyncpg.connect(config.database_url)
    try:
        query = "SELECT 1 FROM autopay.processed_events WHERE event_id = $1"
        return bool(await connection.fetchval(query, event_id))
    finally:
        await connection.close()


async def test_a_history_cursor_past_the_largest_id_is_a_bad_request_not_a_server_error(config):
    async with autopay_in_process(config) as http:
        answer = await http.get(HISTORY.format("c9") + "?before=9223372036854775808")

    assert answer.status_code == 400
    assert answer.json()["reason"] == "invalid_before"
