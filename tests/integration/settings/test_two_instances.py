"""Two instances of the service on one database: one merchant's events stay in version order."""

import asyncio
import contextlib

import httpx

from services.common.contract import SETTINGS_CHANGED_TOPIC, PortalSettingsChanged
from services.common.envelope import decode
from services.settings.app import create_app
from tests.auth import bearer
from tests.support import TopicReader

URL = "/v1/merchants/m1/portal-settings"


@contextlib.asynccontextmanager
async def instance(config):
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://settings", headers=bearer("m1")
        ) as client:
            yield client


async def test_saves_through_two_instances_publish_one_merchant_s_events_in_version_order(config):
    async with instance(config) as first, instance(config) as second:
        saves = await asyncio.gather(
            *(
                (first if n % 2 else second).patch(
                    URL, json={"notification": {"emails": [f"user{n}@example.com"]}}
                )
                for n in range(100)
            )
        )
        assert sorted(save.json()["version"] for save in saves) == list(range(1, 101))
        async with TopicReader(config, SETTINGS_CHANGED_TOPIC) as reader:
            await reader.wait_for(100)
            records = await reader.settle(quiet=0.5)
    versions = [decode(r.headers, r.value, PortalSettingsChanged).data.version for r in records]
    assert versions == list(range(1, 101))
