"""The HTTP API over real PostgreSQL and the real broker: what is stored, what is published."""

import asyncio

import asyncpg

from services.common.contract import SETTINGS_CHANGED_TOPIC, PortalSettingsChanged
from services.common.envelope import decode
from tests.auth import bearer
from tests.settings_documents import DOCUMENT, SETTINGS
from tests.support import TopicReader, header

URL = "/v1/merchants/{merchant}/portal-settings"


def url(merchant: str = "m1") -> str:
    return URL.format(merchant=merchant)


async def stored_versions(config, merchant: str = "m1") -> list[int]:
    connection = await asyncpg.connect(config.database_url)
    try:
        rows = await connection.fetch(
            "SELECT version FROM settings.versions WHERE merchant_id = $1 ORDER BY version",
            merchant,
        )
    finally:
        await connection.close()
    return [row["version"] for row in rows]


def changed(record) -> PortalSettingsChanged:
    return decode(record.headers, record.value, PortalSettingsChanged).data


async def test_a_change_is_stored_and_its_event_arrives_with_the_contract_fields(config, client):
    saved = await client.put(url(), json=DOCUMENT, headers=bearer("m1", subject="ada@merchant"))
    assert saved.status_code == 200 and saved.headers["etag"] == '"1"'

    current = (await client.get(url())).json()
    assert current == saved.json()
    assert (current["version"], current["updated_by"], current["settings"]) == (
        1,
        "ada@merchant",
        SETTINGS,
    )
    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        [record] = await reader.wait_for(1)
    assert record.key == b"m1"
    assert header(record, "ce_type") == "PortalSettingsChanged"
    assert header(record, "ce_source") == "/portal-autopay/settings"
    assert header(record, "ce_subject") == "merchants/m1"
    assert header(record, "content-type") == "application/json"
    event = changed(record)
    assert event.model_dump(mode="json") == {
        "merchant_id": "m1",
        "version": 1,
        "settings": SETTINGS,
        "notification": {"emails": ["ops@example.com"], "locale": "fr"},
        "previous": None,
        "changed_by": "ada@merchant",
    }


async def test_versions_increase_by_one_and_each_event_names_the_settings_before(config, client):
    await client.put(url(), json=DOCUMENT)
    await client.patch(url(), json={"settings": {"allow_customer_autopay_changes": False}})
    third = await client.patch(url(), json={"notification": {"emails": []}})
    assert third.json()["version"] == 3 and third.headers["etag"] == '"3"'

    assert await stored_versions(config) == [1, 2, 3]
    history = (await client.get(f"{url()}/versions")).json()["versions"]
    assert [version["version"] for version in history] == [3, 2, 1]
    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        events = [changed(record) for record in await reader.wait_for(3)]
    assert [event.version for event in events] == [1, 2, 3]
    assert events[1].previous.allow_customer_autopay_changes is True
    assert events[1].settings.allow_customer_autopay_changes is False
    assert events[2].notification.emails == []


async def test_if_match_on_a_stale_version_gets_412_and_stores_and_publishes_nothing(
    config, client
):
    await client.put(url(), json=DOCUMENT)
    ada = await client.patch(
        url(), json={"notification": {"locale": "en"}}, headers={"If-Match": '"1"'}
    )
    bob = await client.patch(
        url(),
        json={"settings": {"auto_enable_autopay_on_payment_link": True}},
        headers={"If-Match": '"1"'},
    )
    assert ada.status_code == 200
    assert bob.status_code == 412 and bob.json()["reason"] == "version_mismatch"
    assert await stored_versions(config) == [1, 2]
    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        await reader.wait_for(2)
        assert [changed(record).version for record in await reader.settle()] == [1, 2]


async def test_saves_that_change_nothing_make_no_version_and_publish_nothing(config, client):
    await client.put(url(), json=DOCUMENT)
    again = await client.put(url(), json=DOCUMENT, headers=bearer("m1", subject="bob"))
    same = await client.patch(url(), json={"settings": {"allow_customer_autopay_changes": True}})
    empty = await client.patch(url(), json={})
    for response in (again, same, empty):
        assert response.status_code == 200
        assert response.json()["version"] == 1 and response.json()["updated_by"] == "tester"
    defaults = await client.put(
        url("m2"),
        json={
            "settings": {k: False for k in SETTINGS},
            "notification": {"emails": [], "locale": "en"},
        },
    )
    assert defaults.json()["version"] == 0

    assert await stored_versions(config) == [1]
    assert await stored_versions(config, "m2") == []
    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        await reader.wait_for(1)
        assert len(await reader.settle()) == 1


async def test_bad_inputs_get_4xx_and_store_and_publish_nothing(config, client):
    attempts = [
        client.patch(url(), json={"settings": {"allow_autopay": True}}),
        client.patch(url(), json={"settings": {"allow_customer_autopay_changes": "yes"}}),
        client.patch(url(), json={"notification": {"emails": ["nobody"]}}),
        client.patch(url(), json={"notification": {"locale": "de"}}),
        client.put("/v1/merchants/not%20an%20id/portal-settings", json=DOCUMENT),
        client.put(url(), content=b"{", headers={"content-type": "application/json"}),
        client.get(f"{url()}/versions/7"),
    ]
    statuses = [(await attempt).status_code for attempt in attempts]
    assert statuses == [422, 422, 422, 422, 400, 400, 404]

    assert await stored_versions(config) == []
    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        assert await reader.settle() == []


async def test_200_concurrent_saves_end_with_consecutive_versions_and_events_in_order(
    config, client
):
    saves = await asyncio.gather(
        *(
            client.patch(url(), json={"notification": {"emails": [f"user{n}@example.com"]}})
            for n in range(200)
        )
    )
    assert all(save.status_code == 200 for save in saves)
    assert sorted(save.json()["version"] for save in saves) == list(range(1, 201))
    assert await stored_versions(config) == list(range(1, 201))

    async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
        records = await reader.wait_for(200, timeout=30)
        records = await reader.settle(quiet=0.5)
    assert [changed(record).version for record in records] == list(range(1, 201))
    assert len({header(record, "ce_id") for record in records}) == 200
    # Each event describes exactly the version stored under its number.
    by_version = {save.json()["version"]: save.json()["notification"] for save in saves}
    assert all(
        changed(record).notification.model_dump() == by_version[changed(record).version]
        for record in records
    )
