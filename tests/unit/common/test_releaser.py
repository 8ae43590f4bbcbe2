"""The releaser's loop, driven over a parking lot kept in memory."""

import asyncio

from services.common.releaser import Releaser
from tests.support import eventually


class Lot:
    """Parked events to release one call at a time; what the releaser did, in order."""

    def __init__(self, waiting: int = 0, next_bound: float | None = None) -> None:
        self.waiting = waiting
        self.next_bound = next_bound
        self.calls: list[str] = []
        self.failures = 0

    async def release_parked(self) -> bool:
        self.calls.append("release")
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the database is away")
        if self.waiting:
            self.waiting -= 1
            return True
        return False

    async def seconds_to_next_bound(self) -> float | None:
        self.calls.append("bound")
        return self.next_bound


async def test_the_releaser_releases_until_nothing_leaves_then_asks_for_the_next_bound():
    lot = Lot(waiting=2)
    task = asyncio.create_task(Releaser(lot, poll_interval=60).run())
    try:
        await eventually(lambda: "bound" in lot.calls)
        assert lot.calls == ["release", "release", "release", "bound"]
    finally:
        task.cancel()


async def test_a_wake_releases_at_once():
    lot = Lot()
    releaser = Releaser(lot, poll_interval=60)
    task = asyncio.create_task(releaser.run())
    try:
        await eventually(lambda: lot.calls == ["release", "bound"])
        lot.waiting = 1
        releaser.wake()
        await eventually(lambda: lot.waiting == 0, timeout=5)
    finally:
        task.cancel()


async def test_the_releaser_wakes_itself_when_the_next_bound_passes():
    lot = Lot(next_bound=0.05)
    task = asyncio.create_task(Releaser(lot, poll_interval=60).run())
    try:
        await eventually(lambda: lot.calls.count("release") >= 2)
    finally:
        task.cancel()


async def test_a_failed_release_is_retried_and_the_loop_goes_on():
    lot = Lot(waiting=1)
    lot.failures = 1
    task = asyncio.create_task(Releaser(lot, poll_interval=0.01).run())
    try:
        await eventually(lambda: lot.waiting == 0, timeout=5)
        assert not task.done()
    finally:
        task.cancel()
