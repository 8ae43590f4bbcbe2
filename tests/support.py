"""Helpers for tests over the real broker: publish, read topics, wait with a deadline."""

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.common import db
from services.common.config import Config, ServiceName
from services.common.contract import EVENT_TOPICS, ContractModel, record_key
from services.common.envelope import CloudEvent, Headers, encode_binary

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T], *, timeout: float = 15.0, interval: float = 0.05
) -> T:
    """Return the first truthy result of `probe` (a plain or an async function); fail when
    the deadline passes without one."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def producer(config: Config) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=config.kafka_bootstrap_servers, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def migrated_pool(
    database_url: str, schema: str, *migrations: Path
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a test's database with `schema` migrated, closed afterwards."""
    pool = await db.create_pool(database_url, size=4)
    try:
        await db.migrate(pool, schema, *migrations)
        yield pool
    finally:
        await pool.close()


async def publish(
    config: Config, *events: CloudEvent[ContractModel], client: AIOKafkaProducer | None = None
) -> None:
    """Publish events in binary mode, on their contract topic and key."""
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(producer(config))
        for event in events:
            headers, value = encode_binary(event)
            await publish_raw(
                config,
                EVENT_TOPICS[type(event.data)],
                value,
                headers=headers,
                key=record_key(event.data),
                client=client,
            )


async def publish_raw(
    config: Config,
    topic: str,
    value: bytes,
    *,
    headers: Headers | None = None,
    key: str = "key",
    client: AIOKafkaProducer,
) -> None:
    await client.send_and_wait(
        config.topic(topic), value=value, key=key.encode(), headers=headers or []
    )


class TopicReader:
    """Reads every record of a topic from the beginning, without a consumer group."""

    def __init__(self, config: Config, topic: str) -> None:
        self._config = config
        self._topic = config.topic(topic)
        self.records: list[ConsumerRecord] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> "TopicReader":
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._config.kafka_bootstrap_servers,
            enable_auto_commit=False,
            # The embedded broker answers a fetch only when this wait ends, data or not.
            fetch_max_wait_ms=10,
        )
        await self._consumer.start()
        partitions = await eventually(self._partitions, timeout=10)
        assignment = [TopicPartition(self._topic, number) for number in partitions]
        self._consumer.assign(assignment)
        await self._consumer.seek_to_beginning(*assignment)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def _partitions(self) -> set[int] | None:
        assert self._consumer is not None
        await self._consumer._client.force_metadata_update()  # no public refresh in aiokafka
        return self._consumer.partitions_for_topic(self._topic)

    async def read(self, timeout: float = 0.2) -> list[ConsumerRecord]:
        """Fetch what has arrived since the last read; return all records so far."""
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000))
        for batch in batches.values():
            self.records.extend(batch)
        return self.records

    async def wait_for(self, count: int, *, timeout: float = 15.0) -> list[ConsumerRecord]:
        """Wait until at least `count` records have arrived; return them all."""
        await eventually(lambda: self._has(count), timeout=timeout, interval=0)
        return self.records

    async def settle(self, quiet: float = 1.0) -> list[ConsumerRecord]:
        """Read until nothing new arrives for `quiet` seconds (to show nothing more comes)."""
        while True:
            before = len(self.records)
            await self.read(timeout=quiet)
            if len(self.records) == before:
                return self.records

    async def _has(self, count: int) -> bool:
        return len(await self.read()) >= count


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None


def service_environment(config: Config, **extra: str) -> dict[str, str]:
    """The environment variables that give a service process this test's configuration."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": config.kafka_topic_prefix,
        "KAFKA_ENABLE_IDEMPOTENCE": str(config.kafka_enable_idempotence).lower(),
        "KAFKA_SESSION_TIMEOUT_MS": str(config.kafka_session_timeout_ms),
        "AUTOPAY_FETCH_MIN_BYTES": str(config.autopay_fetch_min_bytes),
        "DATABASE_URL": config.database_url,
        "MAIL_OUTBOX_DIR": str(config.mail_outbox_dir),
        "LOG_LEVEL": "INFO",
    }
    if config.auth_jwt_secret is not None:
        env["AUTH_JWT_SECRET"] = config.auth_jwt_secret.get_secret_value()
    if config.smtp_url:
        env["SMTP_URL"] = config.smtp_url
    env.update(extra)
    return env


class ServiceProcess:
    """One service started as a user would: `portal-autopay run NAME`, in its own process."""

    def __init__(self, name: ServiceName, config: Config, port: int, **env: str) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._env = service_environment(config, HTTP_PORT=str(port), **env)
        # A file, not a pipe: a pipe nobody reads fills up and blocks the service's logging.
        self.log_path = Path(config.mail_outbox_dir).parent / f"{name}-{port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", self.name],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_ready(self, timeout: float = 30.0) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:

            async def ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log()}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=timeout, interval=0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait: a graceful shutdown; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
