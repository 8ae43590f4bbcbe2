"""Addresses saved before they had to be ASCII: shown as stored, replaced before a save."""

import asyncpg

from tests.settings_documents import DOCUMENT

URL = "/v1/merchants/m1/portal-settings"


async def store_an_address_of_before(config, address: str) -> None:
    """What a version saved before the rule holds (versions are otherwise never updated)."""
    connection = await asyncpg.connect(config.database_url)
    try:
        await connection.execute(
            "UPDATE settings.versions SET notification = jsonb_set(notification, '{emails}',"
            " jsonb_build_array($1::text)) WHERE merchant_id = 'm1'",
            address,
        )
    finally:
        await connection.close()


async def test_an_address_stored_before_the_ascii_rule_is_shown_and_must_be_replaced_to_save(
    config, client
):
    assert (await client.put(URL, json=DOCUMENT)).status_code == 200
    await store_an_address_of_before(config, "josé@exämple.com")

    current = await client.get(URL)
    assert current.status_code == 200
    assert current.json()["notification"]["emails"] == ["josé@exämple.com"]
    assert (await client.get(f"{URL}/versions")).status_code == 200

    locale_only = await client.patch(URL, json={"notification": {"locale": "en"}})
    assert locale_only.status_code == 422
    [problem] = locale_only.json()["errors"]
    assert (problem["field"], problem["reason"]) == ("notification.emails.0", "invalid_email")

    emails = ["jose@xn--exmple-cua.com"]
    replaced = await client.patch(URL, json={"notification": {"emails": emails}})
    assert replaced.status_code == 200
    assert replaced.json()["notification"]["emails"] == emails
