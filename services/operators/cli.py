"""The operators' commands, registered under `portal-autopay`: `events …` and `dlq …`."""

import argparse
import asyncio
import os
import sys
import typing
from collections.abc import Coroutine

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from services.common.config import Config
from services.common.contract import (
    ALL_TOPICS,
    Channel,
    PaymentMethodAdded,
)
from services.common.envelope import describe
from services.operators import dlq
from services.operators.display import readable
from services.operators.logs import configure_logging
from services.operators.publish import publish
from services.operators.reading import UnknownTopic
from services.operators.tail import tail


def register(commands: argparse._SubParsersAction) -> None:
    events = commands.add_parser("events", help="publish and read events").add_subparsers(
        dest="action", required=True
    )
    _register_publish(events)
    tail_parser = events.add_parser("tail", help="one line per event of a topic")
    tail_parser.add_argument("topic", choices=ALL_TOPICS)
    tail_parser.add_argument("--from-beginning", action="store_true")
    tail_parser.add_argument("--max", type=_count, help="stop after this many records")
    tail_parser.set_defaults(handler=_tail)

    dead = commands.add_parser("dlq", help="a service's dead letters").add_subparsers(
        dest="action", required=True
    )
    listing = dead.add_parser("list", help="what was dead-lettered, where from, why")
    listing.add_argument("service", choices=dlq.DLQ_TOPICS)
    listing.set_defaults(handler=_dlq_list)
    show = dead.add_parser("show", help="one dead letter in full")
    show.add_argument("service", choices=dlq.DLQ_TOPICS)
    show.add_argument("--offset", type=_position, required=True, metavar="PARTITION:OFFSET")
    show.set_defaults(handler=_dlq_show)
    replay = dead.add_parser("replay", help="send dead letters back to their topic")
    replay.add_argument("service", choices=dlq.DLQ_TOPICS)
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--offset", type=_position, action="append", metavar="PARTITION:OFFSET", dest="offsets"
    )
    chosen.add_argument("--all", action="store_true", help="every record of the DLQ")
    replay.set_defaults(handler=_dlq_replay)


def _register_publish(events: argparse._SubParsersAction) -> None:
    publish_parser = events.add_parser("publish", help="publish an event").add_subparsers(
        dest="event", required=True
    )
    added = publish_parser.add_parser(
        "payment-method-added", help="a customer saved a payment method"
    )
    added.add_argument("--merchant", required=True)
    added.add_argument("--customer", required=True)
    added.add_argument("--name", help="the customer's name (default: the customer id)")
    added.add_argument(
        "--box",
        type=_boolean,
        metavar="true|false",
        help="'Use this payment method for AutoPay' as submitted (default: no box shown)",
    )
    added.add_argument("--channel", choices=typing.get_args(Channel), default="customer_portal")
    added.add_argument("--settings-version", type=int, help="the version the page showed")
    added.add_argument("--payment-method", default="pm_1", help="its id (default: pm_1)")
    added.add_argument("--type", choices=("card", "bank_account"), default="card")
    added.add_argument("--brand", default="visa")
    added.add_argument("--last4", default="4242")
    added.set_defaults(handler=_publish_payment_method_added)


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError("true or false")
    return text == "true"


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a whole number, 1 or more")
    return int(text)


def _position(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise argparse.ArgumentTypeError("PARTITION:OFFSET, as `dlq list` shows it, e.g. 0:3")
    return int(partition), int(offset)


def _publish_payment_method_added(args: argparse.Namespace) -> int:
    try:
        data = PaymentMethodAdded.model_validate(
            {
                "merchant_id": args.merchant,
                "customer_id": args.customer,
                "customer_name": args.name or args.customer,
                "payment_method": {
                    "id": args.payment_method,
                    "type": args.type,
                    "brand": args.brand,
                    "last4": args.last4,
                },
                "channel": args.channel,
                "use_for_autopay": args.box,
                "portal_settings_version": args.settings_version,
            }
        )
    except ValidationError as error:
        print(f"not a valid PaymentMethodAdded: {describe(error)}", file=sys.stderr)
        return 2

    async def publish_and_print() -> None:
        published = await publish(Config(), data)
        print(f"id: {published.id}")
        print(
            f"topic: {published.topic} (partition {published.partition}, offset {published.offset})"
        )
        print(f"key: {published.key}")

    return _run(publish_and_print())


def _tail(args: argparse.Namespace) -> int:
    async def print_lines() -> None:
        async for line in tail(
            Config(), args.topic, from_beginning=args.from_beginning, limit=args.max
        ):
            print(line, flush=True)

    return _run(print_lines())


def _dlq_list(args: argparse.Namespace) -> int:
    async def print_lines() -> None:
        records = await dlq.dead_letters(Config(), args.service)
        for record in records:
            print(dlq.summary_line(record))
        print(f"{len(records)} dead letter(s) in {dlq.DLQ_TOPICS[args.service]}")

    return _run(print_lines())


def _dlq_show(args: argparse.Namespace) -> int:
    async def show() -> None:
        [record] = await dlq.find(Config(), args.service, [args.offset])
        print("\n".join(dlq.details(record)))

    return _run(show())


def _dlq_replay(args: argparse.Namespace) -> int:
    async def replay() -> None:
        config = Config()
        if args.all:
            records = await dlq.dead_letters(config, args.service)
        else:
            records = await dlq.find(config, args.service, args.offsets)
        async for line in dlq.replay(config, records):
            print(line, flush=True)

    return _run(replay())


def _run(job: Coroutine[None, None, None]) -> int:
    """Run a command's job; a problem the operator can fix is one line on stderr, not a trace."""
    configure_logging()
    try:
        asyncio.run(job)
    except (UnknownTopic, dlq.NoSuchRecord, dlq.NotADeadLetter) as error:
        print(readable(str(error)), file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"Kafka ({Config().kafka_bootstrap_servers}): {error!r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as `cat` does, and keep Python from
        # complaining when it flushes stdout on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
