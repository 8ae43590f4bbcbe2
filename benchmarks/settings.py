"""Settings service figures: commit-to-topic latency of the outbox, and saves per second.

    .venv/bin/python -m benchmarks.settings [--changes 400] [--rate 50] [--saves 3000]
                                            [--runs 3] [--broker embedded|apache-kafka]

Each run starts its broker as the tests do (`--broker`: by default both, taking turns) and
uses the PostgreSQL the tests use, in a fresh database with fresh topics for each part.

1. Latency: the service (and its relay, as in `portal-autopay run settings`) runs in this
   process; changes are saved at a steady rate and the clock starts when the save's
   transaction has committed. A consumer on its own thread stops the clock when it reads the
   event. Median and p99 over all changes.
2. Saves/s: `portal-autopay run settings` as a separate process, driven over HTTP by
   concurrent clients (many merchants; then one merchant, whose saves queue on its row lock),
   until every event is readable on the topic; then the save use-case alone, in-process.
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from benchmarks.brokers import Figures, Row, add_options, measure, percentile, side_by_side
from services.common.config import Config
from services.common.contract import SETTINGS_CHANGED_TOPIC
from services.common.embedded import free_port
from services.common.kafka import create_topics
from services.settings.app import create_app
from services.settings.domain import Changes
from tests.auth import SECRET, platform
from tests.infrastructure import (
    fresh_database,
    idempotent_producers,
    kafka_server,
    postgres_server,
)
from tests.support import ServiceProcess


class Arrivals(threading.Thread):
    """Reads the settings topic on its own event loop; notes when each (merchant, version) lands.

    Its own thread, so that reading does not compete with the service for the event loop.
    """

    def __init__(self, config: Config) -> None:
        super().__init__(daemon=True)
        self._config = config
        self.seen: dict[tuple[str, int], float] = {}
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()

    def __enter__(self) -> "Arrivals":
        self.start()
        if not self._ready.wait(timeout=30) or self.error is not None:
            raise RuntimeError(f"the topic reader did not start: {self.error!r}")
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self.join()

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as error:
            self.error = error
            self._ready.set()

    async def wait_for(self, count: int, timeout: float = 60) -> float:
        """Wait until `count` events have been read; return when the last one was."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count:
            if self.error is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.seen)} of {count} events read ({self.error!r})")
            await asyncio.sleep(0.005)
        return max(self.seen.values())

    async def _consume(self) -> None:
        # No group: every partition is assigned, read from its end (what arrives from now on).
        consumer = AIOKafkaConsumer(
            self._config.topic(SETTINGS_CHANGED_TOPIC),
            bootstrap_servers=self._config.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            # tansu answers a fetch only when its wait runs out, even when records are there:
            # a short wait measures when the event is readable, not the reader's long poll.
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=500)
            for partition in consumer.assignment():
                await consumer.position(partition)
            self._ready.set()
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        data = json.loads(record.value)
                        self.seen[(data["merchant_id"], data["version"])] = now
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def fresh_config(broker: str, kafka: str, postgres: str):
    """A configuration with its own database and topics, as each test gets."""
    async with fresh_database(postgres, "bench") as database_url:
        with tempfile.TemporaryDirectory() as folder:
            config = Config(
                _env_file=None,
                kafka_bootstrap_servers=kafka,
                kafka_enable_idempotence=idempotent_producers(broker),
                kafka_topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
                kafka_topic_partitions=3,
                database_url=database_url,
                # The service process writes its log next to this folder.
                mail_outbox_dir=Path(folder) / "mail",
                auth_jwt_secret=SECRET,
            )
            await create_topics(config)
            yield config


async def commit_to_topic_latency(config: Config, changes: int, rate: float) -> list[float]:
    """Seconds from each commit to its event being read, saving `rate` changes per second."""
    app = create_app(config)
    committed: dict[tuple[str, int], float] = {}
    with Arrivals(config) as arrivals:
        async with app.router.lifespan_context(app):
            service = app.state.settings_service
            start = time.monotonic()
            for n in range(changes):
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                merchant = f"m{n % 20}"
                saved = await service.patch(
                    merchant,
                    Changes(notification={"emails": [f"ops{n}@example.com"]}),
                    expected_version=None,
                    actor="benchmark",
                )
                committed[(merchant, saved.current.version)] = time.monotonic()
            await arrivals.wait_for(changes)
        return sorted(arrivals.seen[key] - at for key, at in committed.items())


async def service_saves_per_second(config: Config, saves: int, concurrency: int) -> float:
    """Saves/s of the use-case alone (relay running, no HTTP), over 100 merchants."""
    app = create_app(config)
    async with app.router.lifespan_context(app):
        service = app.state.settings_service
        pending = iter(range(saves))

        async def worker() -> None:
            for n in pending:
                await service.patch(
                    f"bench{n % 100}",
                    Changes(notification={"emails": [f"ops{n}@example.com"]}),
                    expected_version=None,
                    actor="benchmark",
                )

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return saves / (time.monotonic() - start)


async def saves_per_second(
    config: Config, saves: int, merchants: int, concurrency: int
) -> tuple[float, float]:
    """(saves/s answered over HTTP, saves/s until the last event is readable)."""
    service = ServiceProcess("settings", config, free_port(), LOG_LEVEL="WARNING").start()
    try:
        await service.wait_ready()
        with Arrivals(config) as arrivals:
            pending = iter(range(saves))
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(
                base_url=service.url, timeout=30, limits=limits, headers=platform()
            ) as client:

                async def worker() -> None:
                    for n in pending:
                        response = await client.patch(
                            f"/v1/merchants/bench{n % merchants}/portal-settings",
                            json={"notification": {"emails": [f"ops{n}@example.com"]}},
                        )
                        response.raise_for_status()

                start = time.monotonic()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                answered = time.monotonic()
            last_event = await arrivals.wait_for(saves)
    finally:
        service.stop()
    return saves / (answered - start), saves / (last_event - start)


async def one_run(broker: str, postgres: str, args: argparse.Namespace) -> Figures:
    with kafka_server(broker) as kafka:
        async with fresh_config(broker, kafka, postgres) as config:
            latencies = await commit_to_topic_latency(config, args.changes, args.rate)
        async with fresh_config(broker, kafka, postgres) as config:
            alone = await service_saves_per_second(config, args.saves, args.concurrency)
        async with fresh_config(broker, kafka, postgres) as config:
            many = await saves_per_second(config, args.saves, 100, args.concurrency)
        async with fresh_config(broker, kafka, postgres) as config:
            one = await saves_per_second(config, args.saves // 5, 1, args.concurrency)
    ms = [latency * 1000 for latency in latencies]
    return {
        "median_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms),
        "many_answered": many[0],
        "many_read": many[1],
        "one_answered": one[0],
        "one_read": one[1],
        "alone": alone,
    }


def rows(args: argparse.Namespace) -> list[Row]:
    clients = f"{args.concurrency} clients"
    return [
        Row("commit → readable on the topic, median, ms", "median_ms", ".1f", "~100"),
        Row("commit → readable on the topic, p99, ms", "p99_ms", ".1f"),
        Row("commit → readable on the topic, max, ms", "max_ms", ".1f"),
        Row(f"saves/s over HTTP, 100 merchants, {clients}: answered", "many_answered"),
        Row(f"saves/s over HTTP, 100 merchants, {clients}: events read", "many_read"),
        Row(f"saves/s over HTTP, one merchant, {clients}: answered", "one_answered"),
        Row(f"saves/s over HTTP, one merchant, {clients}: events read", "one_read"),
        Row("saves/s of the save use-case alone (no HTTP), 100 merchants", "alone"),
    ]


async def main(args: argparse.Namespace) -> None:
    with postgres_server() as postgres:
        runs = await measure(args, lambda broker: one_run(broker, postgres, args))
    print(
        f"\nsettings: latency over {args.changes} changes at {args.rate:g}/s; "
        f"{args.saves:,} saves over 100 merchants, {args.saves // 5:,} for one merchant\n"
    )
    print(side_by_side(runs, rows(args)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=400, help="changes timed for latency")
    parser.add_argument("--rate", type=float, default=50, help="changes per second while timing")
    parser.add_argument("--saves", type=int, default=3000, help="saves for the throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    add_options(parser)
    asyncio.run(main(parser.parse_args()))
