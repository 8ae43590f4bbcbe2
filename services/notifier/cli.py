"""The notifier's command-line tools, registered under `portal-autopay`."""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from services.common import db
from services.common.config import Config
from services.notifier import app, service
from services.notifier.preview import write_previews
from services.notifier.repository import PostgresStore

T = TypeVar("T")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the notifier's commands (`emails preview|failed|retry`) to `portal-autopay`."""
    emails = commands.add_parser("emails", help="the merchant emails").add_subparsers(
        dest="action", required=True
    )
    preview = emails.add_parser(
        "preview", help="render every email (en, fr × enrolled, declined) with sample data"
    )
    preview.add_argument("--out", type=Path, default=Path("var/preview"))
    preview.set_defaults(handler=_preview)

    failed = emails.add_parser(
        "failed", help="list the emails given up (refused for good, or failing too long)"
    )
    failed.set_defaults(handler=_failed)

    retry = emails.add_parser("retry", help="queue given-up emails again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        dest="event_ids",
        action="append",
        metavar="EVENT_ID",
        help="the emails of this AutopayChoiceRecorded id (repeatable)",
    )
    which.add_argument("--all", action="store_true", help="every given-up email")
    retry.set_defaults(handler=_retry)


def _preview(args: argparse.Namespace) -> None:
    for path in write_previews(args.out, mail_from=Config().mail_from):
        print(path)


def _failed(args: argparse.Namespace) -> None:
    print("event_id\trecipient\tattempts\tqueued_at\tlast_error")
    for email in _on_database(service.failed_emails):
        error = " ".join((email.last_error or "").split())
        queued_at = email.queued_at.isoformat()
        print(f"{email.event_id}\t{email.recipient}\t{email.attempts}\t{queued_at}\t{error}")


def _retry(args: argparse.Namespace) -> None:
    count = _on_database(lambda store: service.retry_failed(store, args.event_ids))
    print(f"queued again: {count}")


def _on_database(action: Callable[[service.Store], Awaitable[T]]) -> T:
    """Run `action` on the notifier's schema (migrated, as the service would)."""

    async def run() -> T:
        config = Config()
        pool = await db.create_pool(config.database_url, size=1)
        try:
            await db.migrate(pool, app.SCHEMA, *app.MIGRATIONS)
            return await action(PostgresStore(pool))
        finally:
            await pool.close()

    return asyncio.run(run())
