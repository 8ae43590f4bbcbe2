"""The seed's story across the three services, each in its own process, over real servers.

A merchant saves portal settings; two customers save a payment method in the portal, one
leaving "Use this payment method for AutoPay" checked and one unchecking it; the profiles get
the customers' choices and the merchant gets one email per choice, in French.
"""

import asyncio

import httpx

from services.common.embedded import free_port
from tests.auth import bearer
from tests.integration.autopay.events import payment_method_added
from tests.support import ServiceProcess, eventually, publish

MERCHANT = "boulangerie-42"


async def test_a_customer_choice_sets_the_profile_and_emails_the_merchant(config, smtp_server):
    config = config.model_copy(update={"smtp_url": smtp_server.url})
    services = {
        name: ServiceProcess(name, config, free_port()).start()
        for name in ("settings", "autopay", "notifier")
    }
    try:
        await asyncio.gather(*(service.wait_ready() for service in services.values()))
        async with httpx.AsyncClient(base_url=services["settings"].url, timeout=10) as client:
            saved = await client.put(
                f"/v1/merchants/{MERCHANT}/portal-settings",
                headers=bearer(MERCHANT, subject="marie@boulangerie.example"),
                json={
                    "settings": {
                        "allow_customer_autopay_changes": True,
                        "auto_enable_autopay_on_new_payment_method": False,
                        "default_use_for_autopay_checked": True,
                        "auto_enable_autopay_on_payment_link": False,
                    },
                    "notification": {"emails": ["compta@boulangerie.example"], "locale": "fr"},
                },
            )
        assert saved.status_code == 200, saved.text
        # The portal rendered the page with version 1 and the customers submit at once:
        # autopay and the notifier wait for that version if it has not reached them yet.
        await publish(
            config,
            payment_method_added(MERCHANT, "leaves-it-checked", box=True, version=1),
            payment_method_added(MERCHANT, "unchecks-it", box=False, version=1),
        )

        async with httpx.AsyncClient(
            base_url=services["autopay"].url, timeout=10, headers=bearer(MERCHANT)
        ) as client:

            async def profile_of(customer: str) -> dict | None:
                answer = await client.get(
                    f"/v1/merchants/{MERCHANT}/customers/{customer}/payment-profiles"
                )
                return answer.json() if answer.status_code == 200 else None

            checked = await eventually(lambda: profile_of("leaves-it-checked"))
            unchecked = await eventually(lambda: profile_of("unchecks-it"))
        await eventually(lambda: len(smtp_server.received()) >= 2)
    finally:
        for service in services.values():
            service.stop()

    assert _flags(checked) == [(True, "customer", 1)]
    assert _flags(unchecked) == [(False, "customer", 1)]
    emails = smtp_server.received()
    assert len(emails) == 2
    subjects = sorted(str(message["Subject"]) for message in emails)
    assert subjects == [
        "AutoPay activé : Ada Lovelace paiera automatiquement avec Visa •••• 4242",
        "AutoPay refusé : Ada Lovelace ne paiera pas automatiquement avec Visa •••• 4242",
    ]
    assert {message["To"] for message in emails} == {"compta@boulangerie.example"}


def _flags(document: dict) -> list[tuple[bool, str, int]]:
    return [
        (profile["auto_process"], profile["decided_by"], profile["settings_version"])
        for profile in document["profiles"]
    ]
