"""Autopay figures: throughput against a bare pipe and a one-event-per-transaction handler,
p99 latency at a steady rate, and the service's memory.

    .venv/bin/python -m benchmarks.autopay [--events 50000] [--runs 3] [--rate 2000]
                                           [--seconds 10] [--warm-up 1]
                                           [--broker embedded|apache-kafka]

Each run starts from nothing: its own broker, started as the tests do (`--broker`: by
default both, taking turns run after run), a fresh database on the PostgreSQL the tests use
(127.0.0.1:5432 or DATABASE_URL), fresh topics, and 100 merchants whose settings version 1
lets customers choose (every event names that version). Then, one after the other:

(d) latency: `portal-autopay run autopay` as its own process, fed at a steady `--rate`
    events/s for `--warm-up` then `--seconds`: the time from a PaymentMethodAdded's timestamp
    to its AutopayChoiceRecorded's (both stamped by producers on this machine's clock);
    median, p99 over `--seconds`; the warm-up's p99 on its own: its first events find a
    broker started moments before (Apache Kafka's JVM not yet compiled its paths) and new
    database sessions (each first statement prepared, the catalog read);
(b) autopay: N more PaymentMethodAdded are produced while the service is stopped, then it is
    started again: events/s from the first to the last of their AutopayChoiceRecorded
    (the records' timestamps), and the longest pause between two of them (a stall shows
    there; a slow pace does not);
(a) pipe: a bare aiokafka consumer → producer over the same input, no database, no
    decoding: the ceiling;
(c) per-event: the way a plain FastStream handler does it: one record, one transaction (dedupe,
    settings, profile), one publish; measured over the first `--plain-events` records;
(e) RSS: the service processes' peak resident memory (VmHWM);
(f) CPU: the machine's CPU time (every process: service, PostgreSQL, broker) per event
    during (b) and (a), each server's share of it (PostgreSQL, the broker: their processes,
    found by name), the share of the cores busy during (b), and how long the service waited,
    ready to run, for a core (every core busy with something else). With the system under
    test alone on the machine, cores ÷ CPU per event bounds (b) however well its work
    overlaps: the ceiling at this cost per event.

Figures are medians over `--runs` runs on each broker, with the lowest and the highest: the
machine's other work shows in their spread. The ratios are taken within each run.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from benchmarks.brokers import (
    CpuMeter,
    Figures,
    Row,
    add_options,
    measure,
    percentile,
    side_by_side,
)
from services.autopay.app import MIGRATIONS
from services.autopay.domain import applicable_settings, decide
from services.common import db, embedded
from services.common.config import Config
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    DEFAULT_NOTIFICATION,
    DEFAULT_PORTAL_SETTINGS,
    PAYMENT_METHOD_ADDED_TOPIC,
    SETTINGS_CHANGED_TOPIC,
    AutopayChoiceRecorded,
    PaymentMethod,
    PaymentMethodAdded,
    PortalSettingsChanged,
    record_key,
)
from services.common.envelope import decode, encode_binary, new_event
from services.common.kafka import create_topics, make_producer
from tests.auth import SECRET
from tests.infrastructure import (
    fresh_database,
    kafka_server,
    postgres_server,
)
from tests.support import ServiceProcess

MERCHANTS = 100
PIPE_OUTPUT_TOPIC = "bench.pipe.out"
PLAIN_OUTPUT_TOPIC = "bench.plain.out"
PLAIN_SCHEMA = "plain"
SETTINGS = DEFAULT_PORTAL_SETTINGS.model_copy(update={"allow_customer_autopay_changes": True})


def payment_method_added(n: int) -> tuple[str, bytes, list[tuple[str, bytes]], bytes]:
    data = PaymentMethodAdded(
        merchant_id=f"m{n % MERCHANTS}",
        customer_id=f"c{n}",
        customer_name="Ada Lovelace",
        payment_method=PaymentMethod(id=f"pm{n}", type="card", brand="visa", last4="4242"),
        channel="customer_portal",
        use_for_autopay=n % 2 == 0,
        portal_settings_version=1,
    )
    event = new_event(data, source="/benchmarks/payments")
    headers, value = encode_binary(event)
    return event.id, record_key(data).encode(), headers, value


async def produce(producer: AIOKafkaProducer, topic: str, records) -> None:
    pending = []
    for _, key, headers, value in records:
        pending.append(await producer.send(topic, value=value, key=key, headers=headers))
        if len(pending) >= 5000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def publish_settings(config: Config, producer: AIOKafkaProducer) -> None:
    for merchant in range(MERCHANTS):
        data = PortalSettingsChanged(
            merchant_id=f"m{merchant}",
            version=1,
            settings=SETTINGS,
            notification=DEFAULT_NOTIFICATION,
            previous=None,
            changed_by="benchmark",
        )
        headers, value = encode_binary(new_event(data, source="/benchmarks/settings"))
        await producer.send(
            config.topic(SETTINGS_CHANGED_TOPIC),
            value=value,
            key=data.merchant_id.encode(),
            headers=headers,
        )
    await producer.flush()


async def read_timestamps(
    config: Config, topic: str, count: int, *, timeout: float
) -> list[tuple[int, bytes]]:
    """(broker timestamp ms, value) of the first `count` records of a topic."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=config.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for batch in batches.values():
                records.extend((record.timestamp, record.value) for record in batch)
    finally:
        await consumer.stop()
    if len(records) < count:
        raise RuntimeError(f"{topic}: {len(records)} of {count} records within {timeout}s")
    return records


async def all_published(database_url: str, count: int, *, timeout: float = 180) -> None:
    """Wait until `count` inputs are processed and their events relayed.

    Asking the database is cheap; reading the output topic meanwhile would take CPU from the
    service (the records' timestamps are read afterwards).
    """
    connection = await asyncpg.connect(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done = await connection.fetchval(
                "SELECT (SELECT count(*) FROM autopay.processed_events) >= $1"
                " AND NOT EXISTS (SELECT 1 FROM autopay.outbox)",
                count,
            )
            if done:
                return
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise RuntimeError(f"autopay did not process {count} events within {timeout}s")


async def settings_projected(database_url: str, *, timeout: float = 30) -> None:
    """Wait for the merchants' settings: until then a payment method waits for them."""
    connection = await asyncpg.connect(database_url)
    deadline = time.monotonic() + timeout
    try:
        while (
            await connection.fetchval("SELECT count(*) FROM autopay.settings_versions") < MERCHANTS
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the settings were not projected within {timeout}s")
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


def rate(timestamps: list[int]) -> float:
    """Events per second between the first and the last record of a run."""
    span = (max(timestamps) - min(timestamps)) / 1000
    return (len(timestamps) - 1) / span if span > 0 else float("inf")


def longest_pause(timestamps: list[int]) -> int:
    """The longest time between two successive records (ms): a stall, not a slow pace."""
    ordered = sorted(timestamps)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0)


async def pipe(config: Config, count: int) -> list[int]:
    """(a) Consume the input and produce every record to another topic: no database.
    Returns the output records' timestamps."""
    consumer = AIOKafkaConsumer(
        config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        bootstrap_servers=config.kafka_bootstrap_servers,
        group_id=f"{config.kafka_topic_prefix}bench.pipe",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    # The service's own producer settings (acks, idempotence on Apache Kafka, linger).
    producer = make_producer(config)
    await asyncio.gather(consumer.start(), producer.start())
    try:
        piped = 0
        while piped < count:
            batches = await consumer.getmany(timeout_ms=100, max_records=1000)
            deliveries = [
                await producer.send(
                    config.topic(PIPE_OUTPUT_TOPIC),
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                )
                for batch in batches.values()
                for record in batch
            ]
            await asyncio.gather(*deliveries)
            if batches:
                await consumer.commit()
            piped += len(deliveries)
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())
    out = await read_timestamps(config, config.topic(PIPE_OUTPUT_TOPIC), count, timeout=60)
    return [timestamp for timestamp, _ in out]


async def per_event_handler(config: Config, count: int) -> float:
    """(c) A plain FastStream handler: one record, one transaction, one publish."""
    pool = await db.create_pool(config.database_url, size=4)
    await db.migrate(pool, PLAIN_SCHEMA, *MIGRATIONS)
    # No access log: it would write two lines per record to the terminal.
    broker = KafkaBroker(config.kafka_bootstrap_servers, logger=None)
    output = config.topic(PLAIN_OUTPUT_TOPIC)
    handled = 0
    done = asyncio.Event()

    @broker.subscriber(
        config.topic(PAYMENT_METHOD_ADDED_TOPIC),
        group_id=f"{config.kafka_topic_prefix}bench.plain",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    async def handle(message: KafkaMessage) -> None:
        nonlocal handled
        record = message.raw_message
        event = decode(record.headers, record.value, PaymentMethodAdded)
        data = event.data
        async with pool.acquire() as connection, connection.transaction():
            fresh = await connection.fetchval(
                f"INSERT INTO {PLAIN_SCHEMA}.processed_events (event_id) VALUES ($1)"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                event.id,
            )
            if fresh is None:
                return
            applied = applicable_settings(data.portal_settings_version, {1: SETTINGS})
            decision = decide(data.channel, applied.settings, data.use_for_autopay)
            await connection.execute(
                f"INSERT INTO {PLAIN_SCHEMA}.payment_profiles (merchant_id, customer_id,"
                " payment_method_id, auto_process, decided_by, settings_version, caused_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (merchant_id, customer_id,"
                " payment_method_id) DO UPDATE SET auto_process = excluded.auto_process",
                data.merchant_id,
                data.customer_id,
                data.payment_method.id,
                decision.auto_process,
                decision.decided_by,
                applied.version,
                event.id,
            )
        choice = AutopayChoiceRecorded(
            **data.model_dump(include={"merchant_id", "customer_id", "customer_name"}),
            payment_method=data.payment_method,
            channel=data.channel,
            auto_process=decision.auto_process,
            decided_by=decision.decided_by,
            box_default_checked=decision.box_default_checked,
            settings_version=applied.version,
            caused_by=event.id,
        )
        headers, value = encode_binary(new_event(choice, source="/benchmarks/plain"))
        await broker.publish(
            value,
            output,
            key=record.key,
            headers=dict((name, raw.decode()) for name, raw in headers),
        )
        handled += 1
        if handled >= count:
            done.set()

    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=120)
    finally:
        await broker.stop()
        await pool.close()
    out = await read_timestamps(config, output, count, timeout=30)
    return rate([timestamp for timestamp, _ in out])


@contextlib.asynccontextmanager
async def autopay_process(
    config: Config, folder: Path, cpu: CpuMeter | None = None
) -> AsyncIterator[ServiceProcess]:
    """The service as its own process, ready; `cpu` tracks it from its start."""
    service_config = config.model_copy(update={"mail_outbox_dir": folder / "mail"})
    process = ServiceProcess(
        "autopay",
        service_config,
        embedded.free_port(),
        LOG_LEVEL="WARNING",
    ).start()
    assert process.process is not None
    if cpu is not None:
        cpu.track(process.process.pid)
    try:
        # Four consumer groups join one after the other: on the embedded broker, with the
        # default session timeout, each takes about five seconds.
        await process.wait_ready(timeout=90)
        yield process
    finally:
        process.stop()


def peak_rss_mb(process: ServiceProcess) -> float:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


async def steady_latency(
    config: Config, producer: AIOKafkaProducer, *, per_second: int, seconds: float, warm_up: float
) -> tuple[float, float, float]:
    """(d) Median and p99 ms from input timestamp to output timestamp at a steady rate, over
    the `seconds` that follow `warm_up` seconds of the same stream; and the warm-up's p99."""
    warm_up_count = int(per_second * warm_up)
    total = warm_up_count + int(per_second * seconds)
    records = [payment_method_added(n) for n in range(total)]
    tick = 0.01
    per_tick = max(1, round(per_second * tick))
    start = time.monotonic()
    deliveries = []
    for first in range(0, total, per_tick):
        due = start + (first // per_tick) * tick
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        for event_id, key, headers, value in records[first : first + per_tick]:
            deliveries.append(
                (
                    event_id,
                    await producer.send(
                        config.topic(PAYMENT_METHOD_ADDED_TOPIC),
                        value=value,
                        key=key,
                        headers=headers,
                    ),
                )
            )
    sent = {event_id: (await delivery).timestamp for event_id, delivery in deliveries}
    warm_up_ids = {event_id for event_id, *_ in records[:warm_up_count]}
    # Read once everything is sent: a reader running meanwhile would delay this process's
    # sends after their timestamps were taken, and count that delay as the service's.
    output = await read_timestamps(
        config, config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC), total, timeout=60
    )
    latencies: list[int] = []
    warm_up_latencies: list[int] = []
    for timestamp, value in output:
        cause = json.loads(value)["caused_by"]
        if cause in sent:
            measured = warm_up_latencies if cause in warm_up_ids else latencies
            measured.append(timestamp - sent[cause])
    p99 = percentile(latencies, 0.99), percentile(warm_up_latencies, 0.99)
    return statistics.median(latencies), *p99


async def one_run(broker: str, server_url: str, args: argparse.Namespace) -> Figures:
    with kafka_server(broker) as bootstrap, tempfile.TemporaryDirectory() as folder:
        async with fresh_database(server_url, "bench") as database_url:
            tuning = embedded.BROKER_SETTINGS if broker == "embedded" else {}
            config = Config(
                _env_file=None,
                **{name.lower(): value for name, value in tuning.items()},
                kafka_bootstrap_servers=bootstrap,
                kafka_topic_prefix=f"b{uuid.uuid4().hex[:8]}.",
                database_url=database_url,
                auth_jwt_secret=SECRET,
            )
            await create_topics(config)
            await create_topics(config, (PIPE_OUTPUT_TOPIC, PLAIN_OUTPUT_TOPIC))
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024
            )
            await producer.start()
            try:
                await publish_settings(config, producer)
                figures: Figures = {}
                # Latency first, on a steady stream: right after a backlog of N the database
                # is still vacuuming what the burst left, which is no steady state.
                async with autopay_process(config, Path(folder)) as service:
                    await settings_projected(database_url)
                    latency = await steady_latency(
                        config,
                        producer,
                        per_second=args.rate,
                        seconds=args.seconds,
                        warm_up=args.warm_up,
                    )
                    figures["median_ms"], figures["p99_ms"], figures["warm_up_p99_ms"] = latency
                    rss = peak_rss_mb(service)
                steady = int(args.rate * args.warm_up) + int(args.rate * args.seconds)
                backlog = [payment_method_added(steady + n) for n in range(args.events)]
                await produce(producer, config.topic(PAYMENT_METHOD_ADDED_TOPIC), backlog)
                async with (
                    CpuMeter().running() as drain_cpu,
                    autopay_process(config, Path(folder), drain_cpu) as service,
                ):
                    await all_published(database_url, steady + args.events)
                    drain_cpu.sample()  # the stop that follows blocks the sampling
                    figures["rss_mb"] = max(rss, peak_rss_mb(service))
                backlog_ids = {event_id for event_id, *_ in backlog}
                out = await read_timestamps(
                    config,
                    config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC),
                    steady + args.events,
                    timeout=120,
                )
                drained = [ts for ts, value in out if json.loads(value)["caused_by"] in backlog_ids]
                figures["autopay"] = rate(drained)
                figures["longest_pause_ms"] = longest_pause(drained)
                spent = drain_cpu.spent(drained)
                figures["autopay_cpu_us"] = spent.per_record_us
                figures["autopay_busy"] = spent.cores_busy
                figures["service_cpu_us"] = spent.process_per_record_us
                figures["service_waiting_us"] = spent.process_waiting_per_record_us
                figures["autopay_postgres_cpu_us"] = spent.servers_per_record_us["PostgreSQL"]
                figures["autopay_broker_cpu_us"] = spent.servers_per_record_us["broker"]
                pipe_cpu = CpuMeter()
                pipe_cpu.track(os.getpid())
                async with pipe_cpu.running():
                    piped = await pipe(config, steady + args.events)
                figures["pipe"] = rate(piped)
                spent = pipe_cpu.spent(piped)
                figures["pipe_cpu_us"] = spent.per_record_us
                figures["pipe_process_cpu_us"] = spent.process_per_record_us
                figures["pipe_broker_cpu_us"] = spent.servers_per_record_us["broker"]
                figures["per_event"] = await per_event_handler(config, args.plain_events)
            finally:
                await producer.stop()
    # Ratios within a run: the machine's load changes from one run to the next.
    figures["autopay_to_pipe"] = figures["autopay"] / figures["pipe"]
    figures["autopay_to_per_event"] = figures["autopay"] / figures["per_event"]
    # What the CPU cost per event allows with every core busy, whatever the overlap; and the
    # service's process, which runs on one core at a time, always busy.
    figures["autopay_all_cores"] = drain_cpu.cores / (figures["autopay_cpu_us"] / 1e6)
    figures["all_cores_to_pipe"] = figures["autopay_all_cores"] / figures["pipe"]
    figures["service_one_core"] = 1e6 / figures["service_cpu_us"]
    figures["one_core_to_pipe"] = figures["service_one_core"] / figures["pipe"]
    return figures


def rows(args: argparse.Namespace) -> list[Row]:
    return [
        Row("(a) bare pipe, events/s", "pipe", target="ceiling"),
        Row("(b) autopay service, events/s", "autopay", target="≥ 10,000"),
        Row("(b) / (a)", "autopay_to_pipe", ".2f", "≥ 0.4"),
        Row("(b) longest pause between two outputs, ms", "longest_pause_ms"),
        Row("(a) the machine's CPU per event, µs", "pipe_cpu_us", ".1f"),
        Row("(a) its own process's CPU per event, µs", "pipe_process_cpu_us", ".1f"),
        Row("(a) the broker's CPU per event, µs", "pipe_broker_cpu_us", ".1f"),
        Row("(b) the machine's CPU per event, µs", "autopay_cpu_us", ".1f"),
        Row("(b) the service process's CPU per event, µs", "service_cpu_us", ".1f"),
        Row("(b) the service waiting for a core, µs per event", "service_waiting_us", ".1f"),
        Row("(b) PostgreSQL's CPU per event, µs", "autopay_postgres_cpu_us", ".1f"),
        Row("(b) the broker's CPU per event, µs", "autopay_broker_cpu_us", ".1f"),
        Row("(b) share of the cores busy", "autopay_busy", ".0%"),
        Row("(b) every core busy (cores ÷ CPU per event), events/s", "autopay_all_cores"),
        Row("(b) every core busy / (a)", "all_cores_to_pipe", ".2f"),
        Row("(b) the service process always busy, events/s", "service_one_core"),
        Row("(b) the service process always busy / (a)", "one_core_to_pipe", ".2f"),
        Row("(c) one event per transaction, events/s", "per_event"),
        Row("(b) / (c)", "autopay_to_per_event", ".0f", "≥ 20"),
        Row(f"latency median at {args.rate:,}/s, ms", "median_ms"),
        Row(f"latency p99 at {args.rate:,}/s, ms", "p99_ms", target="< 100"),
        Row(f"latency p99 in the {args.warm_up:g}s warm-up before, ms", "warm_up_p99_ms"),
        Row("service peak RSS, MB", "rss_mb", target="< 200"),
    ]


async def main(args: argparse.Namespace) -> None:
    with postgres_server() as server_url:
        runs = await measure(args, lambda broker: one_run(broker, server_url, args))
    print(
        f"\n{args.events:,} PaymentMethodAdded events, {args.plain_events:,} for (c); "
        f"{args.rate:,}/s for {args.seconds:g}s for the latency, after {args.warm_up:g}s of "
        "warm-up\n"
    )
    print(side_by_side(runs, rows(args)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--plain-events", type=int, default=2_000)
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warm-up", type=float, default=1.0)
    add_options(parser)
    asyncio.run(main(parser.parse_args()))
