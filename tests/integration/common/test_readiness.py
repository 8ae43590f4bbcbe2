"""/readyz tells the truth about the service's dependencies."""

import httpx
from fastapi import FastAPI

from services.common.config import Config
from services.common.http import health_router
from services.common.runtime import infrastructure
from tests.infrastructure import idempotent_producers, private_broker


async def test_readyz_is_200_only_while_kafka_and_postgres_answer(database_url, tmp_path):
    with private_broker(tmp_path) as (bootstrap_servers, stop_broker):
        config = Config(
            _env_file=None,
            kafka_bootstrap_servers=bootstrap_servers,
            kafka_enable_idempotence=idempotent_producers(),
            database_url=database_url,
        )
        async with infrastructure(config, "readiness") as infra:
            app = FastAPI()
            app.include_router(health_router(infra.readiness_checks()))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                ready = await client.get("/readyz")
                assert ready.status_code == 200
                assert ready.json() == {"ready": True, "checks": {"postgres": "ok", "kafka": "ok"}}

                stop_broker()
                not_ready = await client.get("/readyz")
                assert not_ready.status_code == 503
                assert not_ready.json()["checks"]["kafka"].startswith("failed")
                assert not_ready.json()["checks"]["postgres"] == "ok"
                assert (await client.get("/healthz")).status_code == 200
