"""The commands a newcomer and an operator type, run as real processes."""

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.common import kafka_jars
from services.common.config import DEFAULT_HTTP_PORTS
from services.common.contract import ALL_TOPICS
from services.common.embedded import port_open
from tests.support import service_environment


def portal_autopay(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


async def test_topics_create_is_idempotent_and_makes_every_contract_topic(config):
    env = service_environment(config, KAFKA_TOPIC_PREFIX=f"{config.kafka_topic_prefix}cli.")
    first = portal_autopay("topics", "create", "--partitions", "2", env=env)
    second = portal_autopay("topics", "create", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "nothing (all topics exist)" in second.stdout

    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers)
    await admin.start()
    try:
        names = [f"{config.kafka_topic_prefix}cli.{topic}" for topic in ALL_TOPICS]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    assert {topic["topic"]: len(topic["partitions"]) for topic in described} == dict.fromkeys(
        names, 2
    )


@pytest.mark.skipif(
    any(port_open("127.0.0.1", port) for port in DEFAULT_HTTP_PORTS.values()),
    reason="the default service ports are taken on this machine",
)
@pytest.mark.parametrize(
    "broker",
    [
        "embedded",
        pytest.param(
            "apache-kafka",
            marks=pytest.mark.skipif(not kafka_jars.can_run(), reason="needs java and mvn"),
        ),
    ],
)
async def test_dev_brings_the_whole_stack_up_and_ctrl_c_leaves_no_process(broker, tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SMTP_URL", "AUTH_JWT_SECRET")
    }
    dev = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.cli", "dev", "--broker", broker),
        *("--var", str(tmp_path / "var")),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        async with asyncio.timeout(90):
            while "export TOKEN=" not in "".join(output):
                line = await dev.stdout.readline()
                assert line, f"dev exited early: {''.join(output)}"
                output.append(line.decode())
        async with httpx.AsyncClient(timeout=5) as client:
            for port in DEFAULT_HTTP_PORTS.values():
                assert (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            # The token it prints works with the README's examples, and is needed.
            token = "".join(output).split("export TOKEN=")[1].split()[0]
            settings = "http://127.0.0.1:8081/v1/merchants/shop-42/portal-settings"
            answer = await client.get(settings, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
            assert (await client.get(settings)).status_code == 401
        family = [dev.pid, *(child.pid for child in psutil.Process(dev.pid).children(True))]
        assert len(family) >= 5, "the broker, PostgreSQL and three services"
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        async with asyncio.timeout(60):
            rest, _ = await dev.communicate()
    assert dev.returncode == 0, "".join(output) + rest.decode()
    assert not [pid for pid in family if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
