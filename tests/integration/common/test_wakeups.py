"""The wake-up loop over real PostgreSQL: woken by NOTIFY, listening again after a loss."""

import asyncio

import asyncpg
import pytest

from services.common import db
from services.common.backoff import Backoff
from services.common.wakeups import Listen, WakeUpLoop
from tests.support import eventually

CHANNEL = "wakeups_test"


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(database_url, size=4)
    yield pool
    await pool.close()


class Worker:
    def __init__(self) -> None:
        self.steps = 0
        self.listeners: list[int] = []  # server pids of the LISTEN connections, in order

    async def step(self) -> None:
        self.steps += 1

    async def connected(self, connection: asyncpg.Connection) -> None:
        self.listeners.append(connection.get_server_pid())


async def started(pool, worker: Worker) -> tuple[WakeUpLoop, asyncio.Task]:
    loop = WakeUpLoop(
        "test",
        listen=Listen(pool, CHANNEL, on_connect=worker.connected),
        poll_interval=60,  # only a NOTIFY can run the step again within a test's deadline
        backoff=Backoff(first=0.05, longest=0.2),
    )
    task = asyncio.create_task(loop.run(worker.step))
    await eventually(lambda: worker.steps == 1)
    return loop, task


async def notify(pool) -> None:
    await pool.execute("SELECT pg_notify($1, '')", CHANNEL)


async def test_a_notify_on_the_channel_runs_the_step_at_once(pool):
    worker = Worker()
    loop, task = await started(pool, worker)
    await notify(pool)
    await eventually(lambda: worker.steps == 2, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)


async def test_a_lost_listen_connection_is_replaced_and_notifications_wake_the_loop_again(pool):
    worker = Worker()
    loop, task = await started(pool, worker)
    await pool.execute("SELECT pg_terminate_backend($1)", worker.listeners[0])
    await eventually(lambda: len(worker.listeners) == 2, timeout=10)
    steps = worker.steps
    await notify(pool)
    await eventually(lambda: worker.steps > steps, timeout=5)
    loop.stop()
    await asyncio.wait_for(task, 5)
    assert worker.listeners[1] != worker.listeners[0]


async def test_the_listen_connection_goes_back_to_the_pool_when_the_loop_stops(pool):
    worker = Worker()
    loop, task = await started(pool, worker)
    loop.stop()
    await asyncio.wait_for(task, 5)
    assert pool.get_idle_size() == pool.get_size()
