"""What the benchmarks share: the brokers they compare, their runs, and the table they print.

Each script measures one run on one broker (`tests.infrastructure.kafka_server(kind)` starts
it, as the tests would); `measure` repeats that on every broker asked for, and `side_by_side`
prints each figure's median per broker, with the lowest and highest run, as a Markdown table.
"""

import argparse
import asyncio
import contextlib
import functools
import math
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

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
class CpuSample:
    at_ms: float  # wall clock, as the records' timestamps
    busy_seconds: float  # every core's busy time added up
    process_seconds: float | None  # the tracked process's CPU time, if any
    # How long the tracked process has waited, ready to run, for a core (Linux's schedstat).
    process_waiting_seconds: float | None = None
    # Each server's CPU time (see `SERVERS`), those found running.
    servers_seconds: dict[str, float] = field(default_factory=dict)


class Spent(NamedTuple):
    """CPU µs per record, all processes together and the tracked one's, and the share of
    the cores busy (NaN when not measured); the tracked process's wait for a core, and each
    server's CPU, µs per record."""

    per_record_us: float
    cores_busy: float
    process_per_record_us: float
    process_waiting_per_record_us: float
    servers_per_record_us: dict[str, float]


class CpuMeter:
    """The machine's CPU time (every process: the service, PostgreSQL, the broker, this
    script) and one process's, sampled in the background, to tell how much CPU a span between
    two records' timestamps cost. Linux only (`/proc`); elsewhere its figures are NaN.

    On a machine whose cores are all shared by the system under test, the CPU time per event
    bounds the throughput, whatever the overlap: `cores / cpu_seconds_per_event`; a Python
    process runs on one core at a time, so its own CPU time per event bounds it too. The
    servers beside it (`SERVERS`) are measured apart: where the rest of the CPU goes.
    """

    PROC = Path("/proc")

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[CpuSample] = []
        self.cores = sum(1 for line in self._machine() if line[:3] == "cpu" and line[3:4].isdigit())
        self._pid: int | None = None
        self._servers: dict[str, list[int]] = {}

    def track(self, pid: int) -> None:
        """Sample this process's CPU time too, from now on."""
        self._pid = pid

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["CpuMeter"]:
        self._servers = self._find_servers()
        self.sample()
        sampler = asyncio.create_task(self._sample_until_cancelled())
        try:
            yield self
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self.sample()

    def spent(self, timestamps_ms: list[int]) -> Spent:
        """The CPU spent between the first and the last of `timestamps_ms`, per record."""
        first, last = min(timestamps_ms), max(timestamps_ms)
        if last == first or not self.cores:
            return Spent(math.nan, math.nan, math.nan, math.nan, dict.fromkeys(SERVERS, math.nan))
        machine = self._seconds_per_ms(first, last, lambda sample: sample.busy_seconds)
        process = self._seconds_per_ms(first, last, lambda sample: sample.process_seconds)
        waiting = self._seconds_per_ms(first, last, lambda sample: sample.process_waiting_seconds)
        us_per_record = (last - first) * 1e6 / (len(timestamps_ms) - 1)
        servers = {
            name: self._seconds_per_ms(first, last, functools.partial(_server_seconds, name))
            * us_per_record
            for name in SERVERS
        }
        return Spent(
            machine * us_per_record,
            machine * 1000 / self.cores,
            process * us_per_record,
            waiting * us_per_record,
            servers,
        )

    def _seconds_per_ms(
        self, first: float, last: float, reading: Callable[[CpuSample], float | None]
    ) -> float:
        """CPU seconds per ms of wall clock from the last sample at or before `first` to the
        first at or after `last` (samples are `interval` apart); NaN if there are none."""
        samples = [(s.at_ms, value) for s in self.samples if (value := reading(s)) is not None]
        before = [sample for sample in samples if sample[0] <= first]
        after = [sample for sample in samples if sample[0] >= last]
        if not before or not after:
            return math.nan
        (start, used_at_start), (end, used_at_end) = before[-1], after[0]
        return (used_at_end - used_at_start) / (end - start)

    async def _sample_until_cancelled(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def sample(self) -> None:
        """Take a sample now: say, the moment a span ends, before a tracked process stops."""
        machine = self._machine()
        if machine:
            # user nice system idle iowait irq softirq steal ...: all but idle and iowait.
            ticks = [int(field) for field in machine[0].split()[1:9]]
            busy = sum(ticks) - ticks[3] - ticks[4]
            self.samples.append(
                CpuSample(
                    time.time() * 1000,
                    busy / _TICKS_PER_SECOND,
                    self._process(),
                    self._process_waiting(),
                    {
                        name: self._tree_seconds(roots)
                        for name, roots in self._servers.items()
                        if roots
                    },
                )
            )

    def _machine(self) -> list[str]:
        try:
            return (self.PROC / "stat").read_text().splitlines()
        except OSError:
            return []

    def _process(self) -> float | None:
        """The tracked process's user and system time; None if none or gone."""
        if self._pid is None:
            return None
        stat = self._stat(self._pid)
        return None if stat is None else (stat.utime + stat.stime) / _TICKS_PER_SECOND

    def _process_waiting(self) -> float | None:
        """How long the tracked process has waited for a core; None if none, gone, or not
        told (schedstat's second field, in ns)."""
        if self._pid is None:
            return None
        try:
            fields = (self.PROC / str(self._pid) / "schedstat").read_text().split()
        except OSError:
            return None
        return int(fields[1]) / 1e9 if len(fields) > 1 else None

    def _find_servers(self) -> dict[str, list[int]]:
        """The first process of each server (not those started by one of the same name)."""
        stats = [stat for path in self.PROC.glob("[0-9]*") if (stat := self._stat(int(path.name)))]
        names = {stat.pid: stat.name for stat in stats}
        return {
            server: [
                stat.pid
                for stat in stats
                if stat.name.startswith(commands)
                and not names.get(stat.ppid, "").startswith(commands)
            ]
            for server, commands in SERVERS.items()
        }

    def _tree_seconds(self, roots: list[int]) -> float:
        """The CPU time of `roots` and of their children, running or ended."""
        total = 0
        for root in roots:
            children = self.PROC / str(root) / "task" / str(root) / "children"
            try:
                pids = [root, *map(int, children.read_text().split())]
            except OSError:
                continue
            for stat in filter(None, map(self._stat, pids)):
                total += stat.utime + stat.stime + stat.ended_children
        return total / _TICKS_PER_SECOND

    def _stat(self, pid: int) -> "ProcessStat | None":
        try:
            text = (self.PROC / str(pid) / "stat").read_text()
        except OSError:
            return None
        # The command is in parentheses; after them, state is field 3, ppid 4, utime and
        # stime 14 and 15, the ended children's (once waited for) 16 and 17.
        name = text[text.find("(") + 1 : text.rfind(")")]
        fields = text.rpartition(")")[2].split()
        return ProcessStat(
            pid,
            name,
            int(fields[1]),
            int(fields[11]),
            int(fields[12]),
            int(fields[13]) + int(fields[14]),
        )


def _server_seconds(name: str, sample: CpuSample) -> float | None:
    return sample.servers_seconds.get(name)


class ProcessStat(NamedTuple):
    pid: int
    name: str
    ppid: int
    utime: int  # clock ticks
    stime: int
    ended_children: int


# Each server by how the command names of its processes begin (tansu's carries its version):
# those running when the meter starts, and their children (a PostgreSQL session's process
# starts when the service connects).
SERVERS = {"PostgreSQL": ("postgres",), "broker": ("java", "tansu")}

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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
