"""The notifier's command-line tools, registered under `portal-autopay`."""

import argparse
from pathlib import Path

from services.common.config import Config
from services.notifier.preview import write_previews


def register(commands: argparse._SubParsersAction) -> None:
    """Add the notifier's commands (`emails preview`) to the `portal-autopay` parser."""
    emails = commands.add_parser("emails", help="the merchant emails").add_subparsers(
        dest="action", required=True
    )
    preview = emails.add_parser(
        "preview", help="render every email (en, fr × enrolled, declined) with sample data"
    )
    preview.add_argument("--out", type=Path, default=Path("var/preview"))
    preview.set_defaults(handler=_preview)


def _preview(args: argparse.Namespace) -> None:
    for path in write_previews(args.out, mail_from=Config().mail_from):
        print(path)
