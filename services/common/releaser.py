"""The loop that frees parked events, over what a service says about its parking lot."""

from typing import Protocol

from services.common.wakeups import WakeUpLoop


class Releasable(Protocol):
    async def release_parked(self) -> bool:
        """Decide the parked events that may go now; True when some did."""

    async def seconds_to_next_bound(self) -> float | None:
        """Until the earliest bound of a parked event; None when none waits for a version."""


class Releaser:
    """Runs `release_parked` until nothing leaves when woken — a settings version arrived, an
    event was parked — when the next bound passes, and at least every `poll_interval`
    seconds (another instance may have recorded the version)."""

    def __init__(self, parked: Releasable, *, poll_interval: float = 1.0) -> None:
        self._parked = parked
        self._loop = WakeUpLoop("deciding parked events", poll_interval=poll_interval)

    def wake(self) -> None:
        self._loop.wake()

    async def run(self) -> None:
        await self._loop.run(self._release_all)

    async def _release_all(self) -> float | None:
        while await self._parked.release_parked():
            pass
        next_bound = await self._parked.seconds_to_next_bound()
        return None if next_bound is None else max(next_bound, 0.01)
