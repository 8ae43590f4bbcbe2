"""The benchmarks' CPU figures: the CPU a span between two records' timestamps cost."""

import asyncio
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

from benchmarks import brokers
from benchmarks.brokers import CpuMeter, CpuSample


def meter_with(*samples: CpuSample, cores: int = 2) -> CpuMeter:
    meter = CpuMeter()
    meter.cores = cores
    meter.samples = list(samples)
    return meter


def test_the_cpu_between_the_first_and_last_record_is_shared_among_their_intervals():
    # 1.5 s of CPU (0.5 s of it the process's) in 1,000 ms of wall clock on 2 cores: 75 %
    # busy; the 5 records span 400 ms, so 0.6 s of CPU (0.2 s) for 4 intervals between them.
    meter = meter_with(CpuSample(1_000, 10.0, 3.0), CpuSample(2_000, 11.5, 3.5))

    spent = meter.spent([1_100, 1_200, 1_300, 1_400, 1_500])

    assert spent.per_record_us == pytest.approx(150_000)
    assert spent.cores_busy == pytest.approx(0.75)
    assert spent.process_per_record_us == pytest.approx(50_000)


def test_the_samples_nearest_around_the_span_are_used():
    meter = meter_with(
        CpuSample(0, 0.0, 0.0),
        CpuSample(1_000, 1.0, 0.5),
        CpuSample(2_000, 3.0, 1.0),
        CpuSample(3_000, 10.0, 5.0),
    )

    spent = meter.spent([1_000, 2_000])

    assert spent[:3] == pytest.approx((2_000_000, 1.0, 500_000))


def test_the_process_is_measured_from_its_first_sample_on():
    # Tracked from the second sample on: its span is taken between its own samples.
    meter = meter_with(
        CpuSample(0, 0.0, None), CpuSample(1_000, 1.0, 0.0), CpuSample(2_000, 2.0, 0.4)
    )

    assert meter.spent([1_500, 2_000]).process_per_record_us == pytest.approx(200_000)
    assert math.isnan(meter.spent([500, 2_000]).process_per_record_us)


@pytest.mark.parametrize(
    "timestamps", [[500, 1_500], [1_500, 2_500], [1_500, 1_500]], ids=["early", "late", "no span"]
)
def test_a_span_the_samples_do_not_cover_has_no_figure(timestamps):
    meter = meter_with(CpuSample(1_000, 1.0, 1.0), CpuSample(2_000, 2.0, 1.0))

    spent = meter.spent(timestamps)

    assert all(math.isnan(figure) for figure in spent[:4])
    assert all(math.isnan(figure) for figure in spent.servers_per_record_us.values())


def test_the_time_the_process_waited_for_a_core_is_shared_among_the_records():
    meter = meter_with(
        CpuSample(1_000, 10.0, 3.0, process_waiting_seconds=1.0),
        CpuSample(2_000, 11.5, 3.5, process_waiting_seconds=1.2),
    )

    spent = meter.spent([1_100, 1_200, 1_300, 1_400, 1_500])

    assert spent.process_waiting_per_record_us == pytest.approx(20_000)


def test_each_servers_cpu_is_shared_among_the_records_like_the_machines():
    meter = meter_with(
        CpuSample(1_000, 10.0, 3.0, servers_seconds={"PostgreSQL": 2.0, "broker": 1.0}),
        CpuSample(2_000, 11.5, 3.5, servers_seconds={"PostgreSQL": 2.5, "broker": 1.1}),
    )

    spent = meter.spent([1_100, 1_200, 1_300, 1_400, 1_500])

    assert spent.servers_per_record_us == pytest.approx({"PostgreSQL": 50_000, "broker": 10_000})


def test_a_server_not_found_running_has_no_figure():
    meter = meter_with(CpuSample(1_000, 1.0, 1.0), CpuSample(2_000, 2.0, 1.0))

    assert math.isnan(meter.spent([1_000, 2_000]).servers_per_record_us["PostgreSQL"])


SPIN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


@pytest.mark.skipif(not (CpuMeter.PROC / "stat").exists(), reason="Linux only")
async def test_a_servers_children_count_those_running_and_those_ended(tmp_path, monkeypatch):
    # A stand-in server (a shell under a name of its own), whose two children each spin for
    # 0.3 s of CPU once the meter runs: the first ends, the second is still running.
    shell = tmp_path / "standin-server"
    shutil.copy("/bin/sh", shell)
    spin_then_wait = SPIN + "print('spun', flush=True)\nimport sys; sys.stdin.read()"
    script = f"read go; {sys.executable} -c {shlex.quote(SPIN)}; "
    script += f"{sys.executable} -c {shlex.quote(spin_then_wait)}"
    monkeypatch.setitem(brokers.SERVERS, "broker", ("standin",))  # a prefix
    server = await asyncio.create_subprocess_exec(
        shell, "-c", script, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        meter = CpuMeter()
        async with meter.running():
            server.stdin.write(b"go\n")
            await server.stdin.drain()
            assert await server.stdout.readline() == b"spun\n"
        first, last = meter.samples[0], meter.samples[-1]
        spent = meter.spent([first.at_ms, last.at_ms])
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the shell and its child
        await server.wait()

    assert spent.servers_per_record_us["broker"] >= 0.5e6


@pytest.mark.skipif(not (CpuMeter.PROC / "stat").exists(), reason="Linux only")
async def test_this_machine_and_process_are_sampled_until_the_meter_stops():
    meter = CpuMeter()
    meter.track(os.getpid())
    async with meter.running():
        pass

    assert meter.cores >= 1
    assert len(meter.samples) == 2  # one on starting, one on stopping
    first, last = meter.samples
    assert 0 < first.busy_seconds <= last.busy_seconds
    assert 0 < first.process_seconds <= last.process_seconds
    assert 0 <= first.process_waiting_seconds <= last.process_waiting_seconds
