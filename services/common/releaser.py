"""The loop that frees parked events, over what a service says about its parking lot."""

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)


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
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            timeout = self._poll_interval
            try:
                while await self._parked.release_parked():
                    pass
                next_bound = await self._parked.seconds_to_next_bound()
                if next_bound is not None:
                    timeout = min(max(next_bound, 0.01), timeout)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deciding parked events failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
