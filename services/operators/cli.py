"""The operators' commands, registered under `portal-autopay`: `events …` and `dlq …`."""

import argparse

from services.common.config import Config
from services.common.contract import ALL_TOPICS
from services.operators import dlq
from services.operators.publish_commands import register_publish
from services.operators.running import run
from services.operators.tail import tail


def register(commands: argparse._SubParsersAction) -> None:
    events = commands.add_parser("events", help="publish and read events").add_subparsers(
        dest="action", required=True
    )
    register_publish(events)
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


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a whole number, 1 or more")
    return int(text)


def _position(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise argparse.ArgumentTypeError("PARTITION:OFFSET, as `dlq list` shows it, e.g. 0:3")
    return int(partition), int(offset)


def _tail(args: argparse.Namespace) -> int:
    async def print_lines() -> None:
        async for line in tail(
            Config(), args.topic, from_beginning=args.from_beginning, limit=args.max
        ):
            print(line, flush=True)

    return run(print_lines())


def _dlq_list(args: argparse.Namespace) -> int:
    async def print_lines() -> None:
        records = await dlq.dead_letters(Config(), args.service)
        for record in records:
            print(dlq.summary_line(record))
        print(f"{len(records)} dead letter(s) in {dlq.DLQ_TOPICS[args.service]}")

    return run(print_lines())


def _dlq_show(args: argparse.Namespace) -> int:
    async def show() -> None:
        [record] = await dlq.find(Config(), args.service, [args.offset])
        print("\n".join(dlq.details(record)))

    return run(show())


def _dlq_replay(args: argparse.Namespace) -> int:
    async def replay() -> None:
        config = Config()
        if args.all:
            records = await dlq.dead_letters(config, args.service)
        else:
            records = await dlq.find(config, args.service, args.offsets)
        async for line in dlq.replay(config, records):
            print(line, flush=True)

    return run(replay())
