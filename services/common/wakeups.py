"""The loop of a background worker: run a step when woken, at the latest every poll interval.

A step is woken by a PostgreSQL NOTIFY on the worker's channel (new outbox rows, queued
emails), by `wake()` from this process, or by the poll, which finds what no notification
announced (another instance's work, a retry falling due). The LISTEN connection is held
while the loop runs; when it is lost (PostgreSQL restarted), the loop connects again, or
notifications would be missed. A failing step or connection is retried after the shared
back-off, reported once as an outage rather than at every retry.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from services.common import outage
from services.common.backoff import Backoff
from services.common.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)

# Runs once; returns how long until it should run again at the latest (0: at once, there is
# more to do; None: the poll interval).
Step = Callable[[], Awaitable[float | None]]
# Runs on each new LISTEN connection before the first step (e.g. to take a session lock).
OnConnect = Callable[[asyncpg.Connection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Listen:
    """The PostgreSQL channel whose notifications wake the loop."""

    pool: asyncpg.Pool
    channel: str
    on_connect: OnConnect | None = None


class WakeUpLoop:
    def __init__(
        self,
        name: str,
        *,
        listen: Listen | None = None,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        """`backoff`: by default the shared policy capped at the poll interval: a worker that
        polls that often when all is well gains nothing by waiting longer to reconnect."""
        self._name = name
        self._listen = listen
        self._poll_interval = poll_interval
        self._backoff = backoff or Backoff(longest=poll_interval)
        self._woken = asyncio.Event()
        self._stopped = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def wake(self) -> None:
        """Run the step as soon as the one under way (if any) has returned."""
        self._woken.set()

    def stop(self) -> None:
        """End `run` once the step under way (if any) has returned."""
        self._stopped.set()
        self._woken.set()

    async def run(self, step: Step) -> None:
        """Run `step` until `stop` (or cancelled); failures are retried, never fatal."""
        retry_delays = None
        while not self.stopping:
            try:
                async with self._listening() as listener:
                    while not self.stopping and not (listener and listener.is_closed()):
                        self._woken.clear()
                        next_run = await step()
                        outage.of("postgres").succeeded()
                        retry_delays = None
                        if next_run != 0:
                            await self._sleep(next_run)
            except Exception as error:
                if not outage.report(error):
                    log.exception("%s failed; retrying", self._name)
                retry_delays = retry_delays or self._backoff.delays()
                # Not cut short by wake(): a worker woken often would retry without pause.
                await _wait_at_most(self._stopped, next(retry_delays))

    async def _sleep(self, seconds: float | None) -> None:
        timeout = self._poll_interval if seconds is None else min(seconds, self._poll_interval)
        await _wait_at_most(self._woken, timeout)

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[asyncpg.Connection | None]:
        if self._listen is None:
            yield None
            return
        connection = await self._listen.pool.acquire()
        try:
            await connection.add_listener(self._listen.channel, self._on_notify)
            # Lost, it is replaced at once rather than at the next poll.
            connection.add_termination_listener(self._on_notify)
            if self._listen.on_connect is not None:
                await self._listen.on_connect(connection)
            yield connection
        finally:
            connection.remove_termination_listener(self._on_notify)
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await connection.remove_listener(self._listen.channel, self._on_notify)
            await self._listen.pool.release(connection)

    def _on_notify(self, *_: object) -> None:
        self._woken.set()


async def _wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event`, `seconds` at most. Not `asyncio.wait_for`: on Python 3.11 a cancel
    that lands in the turn the event is set is dropped, and the loop would run on."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
