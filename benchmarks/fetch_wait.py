"""How long a record waits for its batch, for a consumer's fetch settings: no database, no
decoding, a handler that takes a fixed time per batch.

    .venv/bin/python -m benchmarks.fetch_wait [--rate 2000] [--seconds 5] [--handling-ms 20]
                                              [--broker embedded|apache-kafka]

A consumer asks for a partition's next records only once it has taken the last ones, that is
while it hands a batch over. Each setting below runs on its own topic of the broker: records
are produced at a steady `--rate` (as the autopay benchmark does), the consumer takes batches
as FastStream does (a short `getmany`, then `--handling-ms` of work), and the wait of each
record is the time from its timestamp to the return of the `getmany` that brought it.
"""

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.autopay import payment_method_added
from benchmarks.brokers import brokers, percentile
from services.common.config import Config
from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC
from services.common.kafka import create_topics
from tests.auth import SECRET
from tests.infrastructure import kafka_server

DEFAULTS = Config.model_fields
# (fetch_max_wait_ms, fetch_min_bytes): autopay's before 2026-12-04, Kafka's own, autopay's.
SETTINGS = (
    (5, 1),
    (500, 1),
    (DEFAULTS["autopay_fetch_max_wait_ms"].default, DEFAULTS["autopay_fetch_min_bytes"].default),
)


async def waits(bootstrap: str, setting: tuple[int, int], args: argparse.Namespace) -> list[float]:
    """The wait of every record, in ms, with one fetch setting."""
    config = Config(
        _env_file=None,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=f"f{uuid.uuid4().hex[:8]}.",
        auth_jwt_secret=SECRET,
    )
    await create_topics(config)
    topic = config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    max_wait, min_bytes = setting
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{config.kafka_topic_prefix}fetch-wait",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=max_wait,
        fetch_min_bytes=min_bytes,
    )
    await asyncio.gather(producer.start(), consumer.start())
    total = int(args.rate * args.seconds)
    found: list[float] = []
    try:
        taking = asyncio.create_task(take(consumer, found, total, args.handling_ms / 1000))
        records = [payment_method_added(n) for n in range(total)]
        per_tick = max(1, round(args.rate / 100))
        start = time.monotonic()
        for tick, first in enumerate(range(0, total, per_tick)):
            await asyncio.sleep(max(0.0, start + tick / 100 - time.monotonic()))
            for _, key, headers, value in records[first : first + per_tick]:
                await producer.send(topic, value=value, key=key, headers=headers)
        await asyncio.wait_for(taking, timeout=30)
    finally:
        await asyncio.gather(producer.stop(), consumer.stop())
    return found


async def take(consumer: AIOKafkaConsumer, found: list[float], total: int, handling: float):
    """Take batches as FastStream does, each followed by `handling` seconds of work."""
    while len(found) < total:
        batches = await consumer.getmany(timeout_ms=10, max_records=1000)
        now_ms = time.time() * 1000
        found.extend(now_ms - record.timestamp for batch in batches.values() for record in batch)
        await asyncio.sleep(handling if batches else 0.01)


async def main(args: argparse.Namespace) -> None:
    print(f"{args.rate:,} records/s for {args.seconds:g}s, {args.handling_ms:g} ms a batch\n")
    print("| broker | fetch_max_wait_ms | fetch_min_bytes | wait median, ms | p99, ms |")
    print("| --- | --- | --- | --- | --- |")
    for broker in brokers(args):
        with kafka_server(broker) as bootstrap:
            for setting in SETTINGS:
                found = await waits(bootstrap, setting, args)
                median, p99 = percentile(found, 0.5), percentile(found, 0.99)
                print(f"| {broker} | {setting[0]} | {setting[1]} | {median:.0f} | {p99:.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--handling-ms", type=float, default=20.0)
    parser.add_argument("--broker", choices=("embedded", "apache-kafka"), action="append")
    asyncio.run(main(parser.parse_args()))
