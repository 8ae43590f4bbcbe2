"""PostgreSQL stopped under a running settings service: two warnings, no traceback per second."""

import asyncio
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from services.common import embedded
from services.common.embedded import free_port
from tests.integration.autopay.test_postgres_restart import stop_postgres
from tests.support import ServiceProcess, eventually


@pytest.fixture
def private_postgres():
    folder = Path(tempfile.mkdtemp(prefix="settings-pg-"))
    folder.chmod(0o755)  # see tests/integration/autopay/test_postgres_restart.py
    server, url = embedded.start_postgres(folder / "pg")
    yield server, url
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def log_lines(service: ServiceProcess) -> list[dict]:
    return [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]


def about_postgres(service: ServiceProcess) -> list[str]:
    return [
        line["message"]
        for line in log_lines(service)
        if line["message"].startswith("postgres ") and line["level"] == "warning"
    ]


async def test_postgres_down_then_back_is_told_once_each_without_tracebacks(
    config, private_postgres
):
    server, url = private_postgres
    config = config.model_copy(update={"database_url": url})
    service = ServiceProcess("settings", config, free_port()).start()
    try:
        await service.wait_ready()
        await asyncio.to_thread(stop_postgres, server)
        await eventually(lambda: about_postgres(service), timeout=20)
        # The relay retries every second: several attempts fail while we watch.
        await asyncio.sleep(5)
        await asyncio.to_thread(server.ensure_postgres_running)
        await eventually(lambda: len(about_postgres(service)) >= 2, timeout=30)
        said = about_postgres(service)
        assert said[0].startswith("postgres is unavailable")
        assert said[1].startswith("postgres is back after")
        assert len(said) == 2, said
        assert not [line for line in log_lines(service) if "error" in line]
        assert "Traceback" not in service.log()
    finally:
        service.stop()
