"""The notifier's command-line tools, registered under `portal-autopay`."""

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the notifier's commands (`emails preview`) to the `portal-autopay` parser."""
