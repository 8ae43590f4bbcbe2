"""Notifier figures: emails per second delivered to a local SMTP server.

    .venv/bin/python -m benchmarks.notifier [--emails 5000] [--runs 3] [--broker apache-kafka]

Each run starts its broker as the tests do (`--broker`: by default both, taking turns) and
uses the PostgreSQL the tests use, in a fresh database with fresh topics. The SMTP server is
aiosmtpd in its own process (so it does not share this process's interpreter lock), counting
what it accepts.

1. Sender: N emails already queued in `notifier.emails` (recorded through the service, as
   the choices consumer does); the clock runs from the first claim to the last email
   accepted by the SMTP server.
2. End to end: the notifier app runs in this process (consumers ready); N
   AutopayChoiceRecorded events are published, and the clock runs from the first publish to
   the last email accepted: consume, dedupe, queue, render, send.
"""

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import sys
import time
import uuid

from benchmarks.brokers import Figures, Row, add_options, measure, side_by_side
from services.common import db
from services.common.config import Config
from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC, record_key
from services.common.embedded import free_port
from services.common.envelope import encode_binary
from services.common.kafka import create_topics
from services.notifier import app as notifier_app
from services.notifier.mailer import SmtpMailer, SmtpSettings
from tests.infrastructure import (
    fresh_database,
    idempotent_producers,
    kafka_server,
    postgres_server,
)
from tests.integration.notifier.helpers import (
    choice_recorded,
    project,
    recorder,
    sender,
    settings_changed,
)
from tests.support import producer, publish


def _smtp_server(port: int, accepted, ready) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with accepted.get_lock():
                accepted.value += 1
            return "250 Message accepted"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


async def _wait_for(accepted, count: int, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while accepted.value < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{accepted.value}/{count} emails after {timeout}s")
        await asyncio.sleep(0.005)
    return time.monotonic()


async def sender_throughput(config: Config, accepted, emails: int) -> float:
    pool = await db.create_pool(config.database_url, size=4)
    try:
        await db.migrate(pool, notifier_app.SCHEMA, *notifier_app.MIGRATIONS)
        merchant = f"bench_{uuid.uuid4().hex[:8]}"
        await project(pool, settings_changed(merchant, ["ops@m.example"]))
        record = recorder(pool)
        for start in range(0, emails, 1000):
            await record([choice_recorded(merchant) for _ in range(min(1000, emails - start))])
        mailer = SmtpMailer(SmtpSettings.from_url(config.smtp_url, timeout=10))
        smtp_sender = sender(pool, mailer, mail_from=config.mail_from)
        before = accepted.value
        started = time.monotonic()
        while await smtp_sender.send_due():
            pass
        finished = await _wait_for(accepted, before + emails)
        await mailer.close()
        return emails / (finished - started)
    finally:
        await pool.close()


async def end_to_end_throughput(config: Config, accepted, emails: int) -> float:
    merchant = f"bench_{uuid.uuid4().hex[:8]}"
    choices = [choice_recorded(merchant) for _ in range(emails)]
    topic = config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC)
    app = notifier_app.create_app(config)
    async with app.router.lifespan_context(app), producer(config) as client:
        await publish(config, settings_changed(merchant, ["ops@m.example"]), client=client)
        await asyncio.sleep(0.5)  # the settings projection has its own consumer: let it land
        before = accepted.value
        started = time.monotonic()
        deliveries = []
        for choice in choices:
            headers, value = encode_binary(choice)
            key = record_key(choice.data).encode()
            deliveries.append(await client.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*deliveries)
        published = time.monotonic()
        finished = await _wait_for(accepted, before + emails)
        print(f"published {emails} events in {published - started:.2f}s", file=sys.stderr)
    return emails / (finished - started)


async def one_run(broker: str, postgres_url: str, smtp_port: int, accepted, emails: int) -> Figures:
    with kafka_server(broker) as kafka_url:
        async with fresh_database(postgres_url, "bench") as database_url:
            config = Config(
                _env_file=None,
                kafka_bootstrap_servers=kafka_url,
                kafka_enable_idempotence=idempotent_producers(broker),
                kafka_topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
                database_url=database_url,
                smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            )
            await create_topics(config)
            return {
                "sender": await sender_throughput(config, accepted, emails),
                "end_to_end": await end_to_end_throughput(config, accepted, emails),
            }


ROWS = [
    Row("sender: queued emails → SMTP, emails/s", "sender", target="≥ 500"),
    Row("end to end: AutopayChoiceRecorded → SMTP, emails/s", "end_to_end"),
]


async def main(args: argparse.Namespace) -> None:
    # The notifier runs in this process: FastStream's access log, a line per batch on stdout,
    # would bury the table.
    logging.getLogger("faststream.access.kafka").addFilter(
        lambda record: record.levelno >= logging.WARNING
    )
    accepted = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    port = free_port()
    smtp = multiprocessing.Process(target=_smtp_server, args=(port, accepted, ready), daemon=True)
    smtp.start()
    ready.wait(10)
    try:
        with postgres_server() as postgres_url:
            runs = await measure(
                args, lambda broker: one_run(broker, postgres_url, port, accepted, args.emails)
            )
    finally:
        smtp.terminate()
    print(f"\nnotifier, {args.emails:,} emails to a local aiosmtpd server\n")
    print(side_by_side(runs, ROWS))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5000)
    add_options(parser)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
