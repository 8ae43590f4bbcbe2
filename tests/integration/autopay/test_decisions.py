"""Every row of the decision table, through the real consumers, relay and routes."""

import asyncpg

from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    processed_count,
    profiles,
    settings_changed,
)
from tests.support import TopicReader, eventually, publish


async def settings_versions(config) -> int:
    connection = await asyncpg.connect(config.database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM autopay.settings_versions")
    finally:
        await connection.close()


async def test_each_channel_is_decided_with_the_settings_version_the_customer_saw(config):
    async with autopay_in_process(config) as http:
        await publish(
            config,
            settings_changed(
                "m", 1, allow_customer_autopay_changes=True, default_use_for_autopay_checked=True
            ),
            settings_changed("m", 2, auto_enable_autopay_on_new_payment_method=True),
            settings_changed("m", 3, auto_enable_autopay_on_payment_link=True),
        )
        await eventually(lambda: _equals(settings_versions(config), 3))
        rows = {
            # channel, version, box → auto_process, decided_by, box_default, S, box ignored
            "allowed, box checked": (
                payment_method_added("m", "c1", box=True, version=1),
                (True, "customer", True, 1, False),
            ),
            "allowed, box unchecked": (
                payment_method_added("m", "c2", box=False, version=1),
                (False, "customer", True, 1, False),
            ),
            "allowed, no box value": (
                payment_method_added("m", "c3", version=1),
                (True, "customer", True, 1, False),
            ),
            "forbidden, auto-enable on": (
                payment_method_added("m", "c4", version=2),
                (True, "merchant_policy", None, 2, False),
            ),
            "forbidden, auto-enable on, forged unchecked box": (
                payment_method_added("m", "c5", box=False, version=2),
                (True, "merchant_policy", None, 2, True),
            ),
            "forbidden, auto-enable off, forged checked box": (
                payment_method_added("m", "c6", box=True, version=3),
                (False, "merchant_policy", None, 3, True),
            ),
            "payment link": (
                payment_method_added("m", "c7", channel="payment_link", version=3),
                (True, "merchant_policy", None, 3, False),
            ),
            "payment link, latest version": (
                payment_method_added("m", "c8", channel="payment_link"),
                (True, "merchant_policy", None, 3, False),
            ),
            "another merchant, no settings: the defaults": (
                payment_method_added("b", "c1", box=True),
                (False, "merchant_policy", None, 0, True),
            ),
        }
        not_decided = [
            payment_method_added("m", "c9", channel="merchant_dashboard", box=True),
            payment_method_added("m", "c10", channel="api", version=1),
        ]
        await publish(config, *(event for event, _ in rows.values()), *not_decided)

        async with TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader:
            await reader.wait_for(len(rows))
            choices = choices_by_cause(await reader.settle())
        await eventually(lambda: _equals(processed_count(config), len(rows) + 2))
        stored = await profiles(config)

        expected = {event.id: outcome for event, outcome in rows.values()}
        assert {
            cause: (
                c["auto_process"],
                c["decided_by"],
                c["box_default_checked"],
                c["settings_version"],
                stored[cause]["box_ignored"],
            )
            for cause, c in choices.items()
        } == expected
        assert {
            cause: (p["auto_process"], p["decided_by"], p["settings_version"])
            for cause, p in stored.items()
        } == {cause: (o[0], o[1], o[3]) for cause, o in expected.items()}

        response = await http.get("/v1/merchants/m/customers/c1/payment-profiles")
        assert response.status_code == 200
        body = response.json()
        assert body["profiles"][0]["payment_method_id"] == "pm_1"
        assert body["profiles"][0]["auto_process"] is True
        assert body["profiles"][0]["decided_by"] == "customer"
        unknown = await http.get("/v1/merchants/m/customers/c9/payment-profiles")
        assert (unknown.status_code, unknown.json()["reason"]) == (404, "unknown_customer")
        malformed = await http.get("/v1/merchants/m/customers/c%209/payment-profiles")
        assert (malformed.status_code, malformed.json()["reason"]) == (400, "invalid_customer_id")


async def _equals(value, expected) -> bool:
    return await value == expected
