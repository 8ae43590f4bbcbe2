"""/readyz tells the truth about the service's dependencies."""

import httpx
from fastapi import FastAPI

from services.common import embedded
from services.common.config import Config
from services.common.http import health_router
from services.common.runtime import infrastructure


async def test_readyz_is_200_only_while_kafka_and_postgres_answer(database_url, tmp_path):
    port = embedded.free_port()
    broker = embedded.start_broker(port, tmp_path / "broker.log")
    config = Config(
        _env_file=None, kafka_bootstrap_servers=f"127.0.0.1:{port}", database_url=database_url
    )
    try:
        async with infrastructure(config, "readiness") as infra:
            app = FastAPI()
            app.include_router(health_router(infra.readiness_checks()))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                ready = await client.get("/readyz")
                assert ready.status_code == 200
                assert ready.json() == {"ready": True, "checks": {"postgres": "ok", "kafka": "ok"}}

                embedded.stop_process(broker)
                not_ready = await client.get("/readyz")
                assert not_ready.status_code == 503
                assert not_ready.json()["checks"]["kafka"].startswith("failed")
                assert not_ready.json()["checks"]["postgres"] == "ok"
                assert (await client.get("/healthz")).status_code == 200
    finally:
        embedded.stop_process(broker)
