"""The settings app with its lifespan (PostgreSQL, producer, relay) and a client for it."""

import httpx
import pytest

from services.settings.app import create_app
from tests.auth import platform


@pytest.fixture
async def client(config):
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://settings", headers=platform()
        ) as client:
            yield client
