"""The email sender: the process job that runs `EmailDelivery` (delivery.py) until stopped.

It holds a session with a fresh sender key (its claims last as long as that session, see
`email_queue`) that LISTENs for queued emails, and sends a batch whenever woken or polled.
On `stop` it starts no new email and waits for those in flight to be answered and recorded;
the rest of its claim is freed with its session.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import asyncpg

from services.common import outage
from services.common.db import TRANSIENT_DB_ERRORS
from services.notifier import email_queue
from services.notifier.delivery import EmailDelivery

log = logging.getLogger(__name__)


class Sender:
    def __init__(
        self, pool: asyncpg.Pool, delivery: EmailDelivery, *, poll_interval: float = 1.0
    ) -> None:
        self._pool = pool
        self._delivery = delivery
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()

    async def send_due(self) -> int:
        """Send one batch of due emails; return how many were attempted."""
        async with self._session() as (_, key):
            return await self._delivery.send_batch(key)

    async def run(self) -> None:
        """Send until `stop`: woken by NOTIFY when emails are queued, else by a poll."""
        try:
            while not self._stopping:
                try:
                    async with self._session() as (listener, key):
                        while not self._stopping and not listener.is_closed():
                            self._wake.clear()
                            if await self._delivery.send_batch(key) < self._delivery.batch_size:
                                await self._idle()
                            outage.of("postgres").succeeded()
                except Exception as error:
                    if not outage.report(error):
                        log.exception("email sender failed; retrying")
                    await self._idle()
        finally:
            self._stopped.set()

    async def stop(self, grace: float) -> None:
        """Start no new email; wait (at most `grace` seconds) for those in flight.

        Past the grace period, cancelling `run` abandons them: an email the server accepted
        but that was not recorded goes again after a restart, with its Message-ID.
        """
        self._stopping = True
        self._delivery.stop()
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), grace)

    async def _idle(self) -> None:
        # Retries fall due without a NOTIFY: the poll finds them (at most poll_interval late).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[asyncpg.Connection, int]]:
        """A connection holding a fresh sender key (its claims live as long as it does) and
        listening for queued emails."""
        connection = await self._pool.acquire()
        try:
            key = secrets.randbelow(2**31 - 1) + 1
            while not await email_queue.hold_sender_key(connection, key):
                key = secrets.randbelow(2**31 - 1) + 1
            await connection.add_listener(email_queue.EMAILS_CHANNEL, self._on_notify)
            yield connection, key
        finally:
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await connection.remove_listener(email_queue.EMAILS_CHANNEL, self._on_notify)
            await self._pool.release(connection)  # the reset ends the advisory lock

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
