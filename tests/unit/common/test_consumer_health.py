"""A consumer with records waiting and no progress for a minute is not ready."""

from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition

from services.common.consumer_health import ConsumerHealth

TP = TopicPartition("payments", 0)


@dataclass
class Consumer:
    """What ConsumerHealth reads of an aiokafka consumer: assignment, high watermark, position."""

    highwater_offset: int = 0
    position_offset: int = 0

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, _: TopicPartition) -> int:
        return self.highwater_offset

    async def position(self, _: TopicPartition) -> int:
        return self.position_offset


@dataclass
class Subscriber:
    consumer: Consumer
    group_id: str = "autopay"


@dataclass
class Broker:
    subscribers: list[Subscriber] = field(default_factory=list)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_waiting_records_and_no_progress_for_60_seconds_make_it_not_ready():
    consumer, clock = Consumer(highwater_offset=10, position_offset=3), Clock()
    health = ConsumerHealth(Broker([Subscriber(consumer)]), clock=clock)
    assert await health.lag() == {("autopay", "payments", 0): 7}
    clock.now = 59
    await health.check()
    consumer.position_offset = 4  # progress: the minute starts again
    clock.now = 100
    await health.check()
    clock.now = 161
    with pytest.raises(RuntimeError, match="stuck: 6 records waiting"):
        await health.check()


async def test_an_idle_consumer_without_lag_stays_ready():
    clock = Clock()
    health = ConsumerHealth(Broker([Subscriber(Consumer(5, 5))]), clock=clock)
    clock.now = 3600
    await health.check()
