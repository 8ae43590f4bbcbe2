"""Consumer lag per partition, and whether a consumer is stuck.

A consumer with records waiting (lag) whose positions have not moved for `STUCK_AFTER`
seconds is stuck: its readiness check fails, so an orchestrator can restart it.
"""

import asyncio
import time
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from services.common import metrics

STUCK_AFTER = 60.0

Partition = tuple[str, str, int]  # group, topic, partition


class ConsumerHealth:
    def __init__(
        self,
        broker: KafkaBroker,
        *,
        stuck_after: float = STUCK_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._stuck_after = stuck_after
        self._clock = clock
        self._positions: dict[Partition, int] = {}
        self._moved_at = clock()

    async def lag(self) -> dict[Partition, int]:
        """Per assigned partition: high watermark minus position. Updates the lag gauges."""
        positions, lag = {}, {}
        for subscriber in self._broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                continue
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                position = await asyncio.wait_for(consumer.position(tp), timeout=2)
                key = (subscriber.group_id or "", tp.topic, tp.partition)
                positions[key] = position
                lag[key] = max((highwater or position) - position, 0)
                metrics.CONSUMER_LAG.labels(*map(str, key)).set(lag[key])
        if positions != self._positions:
            self._positions, self._moved_at = positions, self._clock()
        return lag

    async def check(self) -> None:
        """A readiness check: fails while records wait and nothing has moved for a minute."""
        waiting = sum((await self.lag()).values())
        still = self._clock() - self._moved_at
        if waiting and still >= self._stuck_after:
            raise RuntimeError(f"stuck: {waiting} records waiting, no progress for {still:.0f} s")
