"""A run configured with known secrets: none of them, nor a token, card data or a full address,
in any log line or /readyz body; decisions and emails logged as JSON lines with their ids."""

import asyncio
import json
from urllib.parse import urlsplit

import httpx

from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC
from services.common.embedded import free_port
from tests.auth import SECRET, bearer, token
from tests.integration.autopay.events import payment_method_added
from tests.support import ServiceProcess, eventually, producer, publish, publish_raw

DB_PASSWORD = "db-Pa55word-4711"
SMTP_PASSWORD = "smtp-Pa55word-0815"
CARD_NUMBER = "4242424242424242"
ADDRESS = "billing-team@boulangerie.example"
MERCHANT = "boulangerie-42"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return parts._replace(netloc=f"{user}:{password}@{parts.netloc.rpartition('@')[2]}").geturl()


def json_lines(service: ServiceProcess) -> list[dict]:
    return [json.loads(line) for line in service.log().splitlines() if line.strip()]


async def test_no_secret_token_card_number_or_address_reaches_the_logs(config, smtp_server):
    host, port = smtp_server.url.removeprefix("smtp://").split(":")
    config = config.model_copy(
        update={
            "database_url": with_password(config.database_url, DB_PASSWORD),
            # The test server offers no login: every email waits and the reason is logged.
            "smtp_url": f"smtp://mailer:{SMTP_PASSWORD}@{host}:{port}",
        }
    )
    services = {
        name: ServiceProcess(name, config, free_port()).start()
        for name in ("settings", "autopay", "notifier")
    }
    valid = token(MERCHANT, subject="marie")
    forged = token(MERCHANT, secret="not-the-secret-but-32-chars-long!")
    try:
        await asyncio.gather(*(service.wait_ready() for service in services.values()))
        async with httpx.AsyncClient(base_url=services["settings"].url, timeout=10) as client:
            saved = await client.put(
                f"/v1/merchants/{MERCHANT}/portal-settings",
                headers={"Authorization": f"Bearer {valid}"},
                json={
                    "settings": {
                        "allow_customer_autopay_changes": True,
                        "auto_enable_autopay_on_new_payment_method": False,
                        "default_use_for_autopay_checked": True,
                        "auto_enable_autopay_on_payment_link": False,
                    },
                    "notification": {"emails": [ADDRESS], "locale": "en"},
                },
            )
            assert saved.status_code == 200, saved.text
            refused = await client.get(
                f"/v1/merchants/{MERCHANT}/portal-settings",
                headers={"Authorization": f"Bearer {forged}"},
            )
            assert refused.status_code == 401
        good = payment_method_added(MERCHANT, "c-1", box=True, version=1)
        await publish(config, good)
        card = json.loads(good.data.model_dump_json()) | {"customer_id": "c-2"}
        card["payment_method"]["last4"] = CARD_NUMBER
        async with producer(config) as client:
            await publish_raw(
                config,
                PAYMENT_METHOD_ADDED_TOPIC,
                json.dumps(card).encode(),
                headers=[
                    ("ce_specversion", b"1.0"),
                    ("ce_id", b"card-number-event"),
                    ("ce_type", b"PaymentMethodAdded"),
                    ("ce_source", b"/tests"),
                    ("content-type", b"application/json"),
                ],
                client=client,
            )

        def decided() -> list[dict]:
            return [
                line
                for line in json_lines(services["autopay"])
                if line["message"] == "decided" and line.get("event_id") == good.id
            ]

        def email_attempts() -> list[dict]:
            return [
                line
                for line in json_lines(services["notifier"])
                if line["message"].startswith("email ")
            ]

        [decision] = await eventually(decided, timeout=30)
        assert (decision["merchant_id"], decision["customer_id"]) == (MERCHANT, "c-1")
        assert decision["auto_process"] is True and decision["decided_by"] == "customer"
        [attempt, *_] = await eventually(email_attempts, timeout=30)
        assert attempt["outcome"] == "retrying" and attempt["merchant_id"] == MERCHANT
        assert attempt["customer_id"] == "c-1" and attempt["recipient"].endswith(
            "***@boulangerie.example"
        )
        async with httpx.AsyncClient(timeout=10) as client:
            readiness = [
                (await client.get(f"{service.url}/readyz")).text for service in services.values()
            ]
    finally:
        for service in services.values():
            service.stop()

    everything = "\n".join([*(s.log() for s in services.values()), *readiness])
    for leaked in (DB_PASSWORD, SMTP_PASSWORD, SECRET, valid, forged, CARD_NUMBER, ADDRESS):
        assert leaked not in everything, f"{leaked[:12]}… appears in the logs"
    assert bearer  # the helper the other API tests use makes the same kind of token
