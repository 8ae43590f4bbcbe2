"""What the benchmarks share: the brokers they compare, their runs, and the table they print.

Each script measures one run on one broker (`tests.infrastructure.kafka_server(kind)` starts
it, as the tests would); `measure` repeats that on every broker asked for, and `side_by_side`
prints each figure's median per broker, with the lowest and highest run, as a Markdown table.
"""

import argparse
import math
import statistics
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.common import kafka_jars

Figures = dict[str, float]

BROKERS = ("embedded", "apache-kafka")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        choices=BROKERS,
        action="append",
        help="the broker to measure on (repeatable); default: both, where Java is installed",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs on each broker")


def brokers(args: argparse.Namespace) -> list[str]:
    return args.broker or [kind for kind in BROKERS if kind == "embedded" or kafka_jars.can_run()]


async def measure(
    args: argparse.Namespace, one_run: Callable[[str], Awaitable[Figures]]
) -> dict[str, list[Figures]]:
    """`args.runs` runs of `one_run(broker)` on each broker.

    The brokers take turns, run after run, so that the other work on the machine weighs on
    both alike.
    """
    runs: dict[str, list[Figures]] = {broker: [] for broker in brokers(args)}
    for number in range(1, args.runs + 1):
        for broker, figures in runs.items():
            figures.append(await one_run(broker))
            shown = ", ".join(f"{name} {value:.6g}" for name, value in figures[-1].items())
            print(f"run {number} on {broker}: {shown}", file=sys.stderr, flush=True)
    return runs


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank); NaN when there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else math.nan


@dataclass(frozen=True)
class Row:
    label: str
    figure: str  # the key in each run's Figures
    format: str = ",.0f"
    target: str = ""


def side_by_side(runs: dict[str, list[Figures]], rows: list[Row]) -> str:
    """A Markdown table: one line per figure, a column per broker, then the target."""
    count = min(len(figures) for figures in runs.values())
    spread = " (lowest–highest)" if count > 1 else ""
    header = [
        "figure",
        *(f"{label(broker)}, median of {count}{spread}" for broker in runs),
        "target",
    ]
    lines = [
        [
            row.label,
            *(cell([run[row.figure] for run in runs[b]], row.format) for b in runs),
            row.target,
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    rule = ["-" * width for width in widths]
    return "\n".join(markdown_line(line, widths) for line in [header, rule, *lines])


def markdown_line(cells: list[str], widths: list[int]) -> str:
    return (
        "| "
        + " | ".join(text.ljust(width) for text, width in zip(cells, widths, strict=True))
        + " |"
    )


def label(broker: str) -> str:
    if broker == "apache-kafka":
        return f"Apache Kafka {kafka_jars.version()}"
    return "embedded (tansu)"


def cell(values: list[float], format: str) -> str:
    """The median, and the lowest and highest run when there are several."""
    median = f"{statistics.median(values):{format}}"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):{format}}–{max(values):{format}})"
