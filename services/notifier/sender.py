"""The email sender: the process job that runs `EmailDelivery` (delivery.py) until stopped.

It sends a batch whenever the shared wake-up loop wakes it (a NOTIFY of queued emails, or the
poll), under a fresh sender key that its LISTEN session holds (its claims last as long as that
session, see `email_queue`). On `stop` it starts no new email and waits for those in flight to
be answered and recorded; the rest of its claim is freed with its session.
"""

import asyncio
import contextlib
import secrets

import asyncpg

from services.common.wakeups import Listen, WakeUpLoop
from services.notifier import email_queue
from services.notifier.delivery import EmailDelivery


class Sender:
    def __init__(
        self, pool: asyncpg.Pool, delivery: EmailDelivery, *, poll_interval: float = 1.0
    ) -> None:
        self._pool = pool
        self._delivery = delivery
        self._loop = WakeUpLoop(
            "email sender",
            listen=Listen(pool, email_queue.EMAILS_CHANNEL, on_connect=self._take_key),
            poll_interval=poll_interval,
        )
        self._key = 0
        self._stopped = asyncio.Event()

    async def send_due(self) -> int:
        """Send one batch of due emails; return how many were attempted."""
        async with self._pool.acquire() as connection:
            await self._take_key(connection)
            return await self._delivery.send_batch(self._key)

    async def run(self) -> None:
        """Send until `stop`: woken by NOTIFY when emails are queued, else by a poll."""
        try:
            await self._loop.run(self._send_next_batch)
        finally:
            self._stopped.set()

    async def stop(self, grace: float) -> None:
        """Start no new email; wait (at most `grace` seconds) for those in flight.

        Past the grace period, cancelling `run` abandons them: an email the server accepted
        but that was not recorded goes again after a restart, with its Message-ID.
        """
        self._delivery.stop()
        self._loop.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), grace)

    async def _send_next_batch(self) -> float | None:
        # Retries fall due without a NOTIFY: the poll finds them (at most poll_interval late).
        sent = await self._delivery.send_batch(self._key)
        return 0 if sent == self._delivery.batch_size else None

    async def _take_key(self, connection: asyncpg.Connection) -> None:
        """A fresh sender key, held by `connection`: its claims live as long as it does."""
        key = secrets.randbelow(2**31 - 1) + 1
        while not await email_queue.hold_sender_key(connection, key):
            key = secrets.randbelow(2**31 - 1) + 1
        self._key = key  # the connection's reset, when the pool takes it back, frees it
