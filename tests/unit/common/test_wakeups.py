"""The wake-up loop without PostgreSQL: woken, polled, retried after failures, stopped."""

import asyncio
import itertools
import time

from services.common.backoff import Backoff
from services.common.wakeups import WakeUpLoop
from tests.support import eventually


class Worker:
    """A step that records when it ran and does what it is told next."""

    def __init__(self, *answers: float | Exception | None) -> None:
        self.answers = list(answers)
        self.runs: list[float] = []

    async def step(self) -> float | None:
        self.runs.append(time.monotonic())
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer


async def running(loop: WakeUpLoop, worker: Worker) -> asyncio.Task:
    task = asyncio.create_task(loop.run(worker.step))
    await eventually(lambda: worker.runs)
    return task


async def test_a_step_with_more_to_do_runs_again_at_once():
    worker = Worker(0, 0, None)
    loop = WakeUpLoop("test", poll_interval=60)
    task = await running(loop, worker)
    await eventually(lambda: len(worker.runs) == 3)
    loop.stop()
    await asyncio.wait_for(task, 5)
    assert len(worker.runs) == 3


async def test_a_wake_runs_the_step_long_before_the_poll():
    worker = Worker()
    loop = WakeUpLoop("test", poll_interval=60)
    task = await running(loop, worker)
    loop.wake()
    await eventually(lambda: len(worker.runs) == 2, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)


async def test_without_a_wake_the_poll_runs_the_step_again():
    worker = Worker()
    loop = WakeUpLoop("test", poll_interval=0.05)
    task = await running(loop, worker)
    await eventually(lambda: len(worker.runs) >= 3, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)


async def test_a_step_asking_to_run_sooner_than_the_poll_is_run_then():
    worker = Worker(0.05, 60)
    loop = WakeUpLoop("test", poll_interval=60)
    task = await running(loop, worker)
    await eventually(lambda: len(worker.runs) == 2, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)


async def test_a_failing_step_is_retried_after_the_back_off_not_given_up():
    worker = Worker(RuntimeError("down"), RuntimeError("still down"), None)
    loop = WakeUpLoop("test", poll_interval=60, backoff=Backoff(first=0.2, longest=0.2))
    task = await running(loop, worker)
    await eventually(lambda: len(worker.runs) == 3, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)
    pauses = [later - earlier for earlier, later in itertools.pairwise(worker.runs)]
    assert all(pause >= 0.1 for pause in pauses)  # at least half the delay: the jitter's floor


async def test_a_wake_does_not_cut_a_back_off_short():
    worker = Worker(RuntimeError("down"), None)
    loop = WakeUpLoop("test", poll_interval=60, backoff=Backoff(first=0.4, longest=0.4))
    task = await running(loop, worker)
    loop.wake()
    await eventually(lambda: len(worker.runs) == 2, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)
    assert worker.runs[1] - worker.runs[0] >= 0.2


async def test_stop_ends_the_loop_even_during_a_back_off():
    worker = Worker(RuntimeError("down"))
    loop = WakeUpLoop("test", poll_interval=60, backoff=Backoff(first=60, longest=60))
    task = await running(loop, worker)
    loop.stop()
    await asyncio.wait_for(task, 5)
    assert len(worker.runs) == 1


async def test_by_default_a_failing_step_is_retried_at_least_every_poll_interval():
    worker = Worker(*[RuntimeError("down")] * 6)
    loop = WakeUpLoop("test", poll_interval=0.2)
    task = await running(loop, worker)
    await eventually(lambda: len(worker.runs) == 7, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)
    pauses = [later - earlier for earlier, later in itertools.pairwise(worker.runs)]
    assert max(pauses) < 0.6  # the poll interval and some slack, far below the 5 s cap


async def test_a_cancel_that_comes_with_a_wake_ends_the_loop():
    # `asyncio.wait_for` (Python 3.11) returns the woken event's result when both land in
    # the same turn and drops the cancel: the loop ran on, and a stopping service waited on
    # it for ever (seen as a hung test teardown).
    worker = Worker()
    loop = WakeUpLoop("test", poll_interval=60)
    task = await running(loop, worker)
    await asyncio.sleep(0.01)  # asleep until woken
    loop.wake()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.cancelled()


async def test_a_cancel_that_comes_with_a_stop_during_a_back_off_ends_the_loop():
    worker = Worker(RuntimeError("down"))
    loop = WakeUpLoop("test", poll_interval=60, backoff=Backoff(first=30, longest=30))
    task = await running(loop, worker)
    await asyncio.sleep(0.01)  # waiting out the back-off
    loop.stop()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.cancelled()
