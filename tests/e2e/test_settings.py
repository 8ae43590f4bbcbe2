"""The settings service run as `portal-autopay run settings`, driven over HTTP from outside."""

import asyncpg
import httpx

from services.common.contract import SETTINGS_CHANGED_TOPIC, PortalSettingsChanged
from services.common.db import advisory_lock_key
from services.common.embedded import free_port
from services.common.envelope import decode
from tests.auth import bearer
from tests.support import ServiceProcess, TopicReader, header

URL = "/v1/merchants/shop-42/portal-settings"
ALLOW = {"settings": {"allow_customer_autopay_changes": True}}


async def test_a_merchant_changes_settings_through_the_running_service(config):
    service = ServiceProcess("settings", config, free_port()).start()
    try:
        await service.wait_ready()
        async with httpx.AsyncClient(
            base_url=service.url, timeout=5, headers=bearer("shop-42", subject="ada")
        ) as client:
            assert (await client.get(URL)).json()["version"] == 0
            saved = await client.patch(URL, json=ALLOW)
            assert saved.status_code == 200 and saved.headers["etag"] == '"1"'
            stale = await client.patch(URL, json={}, headers={"If-Match": '"0"'})
            assert stale.status_code == 412
            assert (await client.get("/docs")).status_code == 200
        async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
            [record] = await reader.wait_for(1)
        event = decode(record.headers, record.value, PortalSettingsChanged)
        assert (event.data.merchant_id, event.data.version, event.data.changed_by) == (
            "shop-42",
            1,
            "ada",
        )
        assert event.data.settings.allow_customer_autopay_changes
    finally:
        assert service.stop() == 0


async def test_a_service_killed_between_commit_and_publish_publishes_once_on_restart(config):
    # Holding the relay's lock keeps it from publishing: the change is committed, not sent.
    relay_lock = await asyncpg.connect(config.database_url)
    service = ServiceProcess("settings", config, free_port()).start()
    try:
        await service.wait_ready()
        await relay_lock.execute(
            "SELECT pg_advisory_lock($1)", advisory_lock_key("outbox:settings")
        )
        async with httpx.AsyncClient(
            base_url=service.url, timeout=5, headers=bearer("shop-42")
        ) as client:
            assert (await client.patch(URL, json=ALLOW)).status_code == 200
        async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
            assert await reader.settle() == []
        service.kill()
        event_id = await relay_lock.fetchval("SELECT event_id FROM settings.versions")
        assert await relay_lock.fetchval("SELECT count(*) FROM settings.outbox") == 1
        await relay_lock.execute("SELECT pg_advisory_unlock_all()")

        service = ServiceProcess("settings", config, free_port()).start()
        await service.wait_ready()
        async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
            await reader.wait_for(1)
            records = await reader.settle()
        assert [header(record, "ce_id") for record in records] == [event_id]
        assert await relay_lock.fetchval("SELECT count(*) FROM settings.outbox") == 0
    finally:
        service.stop()
        await relay_lock.close()


async def test_a_huge_streamed_body_is_refused_at_once_without_a_content_length(config):
    # The body that froze the service: 14 MB of unknown keys. Sent chunked, it declares no size.
    huge = b'{"settings": {' + b", ".join(b'"k%d": 1' % n for n in range(1_000_000)) + b"}}"
    service = ServiceProcess("settings", config, free_port()).start()
    try:
        await service.wait_ready()

        async def chunks():
            for start in range(0, len(huge), 65536):
                yield huge[start : start + 65536]

        async with httpx.AsyncClient(
            base_url=service.url, timeout=10, headers=bearer("shop-42")
        ) as client:
            try:
                refused = await client.patch(
                    URL, content=chunks(), headers={"content-type": "application/json"}
                )
            except httpx.WriteError:
                refused = None  # the server answered and closed before the rest was sent
            if refused is not None:
                assert refused.status_code == 413
                assert len(refused.content) < 200
            assert (await client.get(URL)).json()["version"] == 0
    finally:
        service.stop()
