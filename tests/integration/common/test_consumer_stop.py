"""A graceful stop of a subscription over the real broker, with a batch in hand."""

import asyncio

import pytest

from services.common import subscription
from services.common.consumer import BatchConsumer
from services.common.contract import PaymentMethodAdded
from services.common.envelope import new_event
from services.common.subscription import consumer_broker
from tests.integration.common.test_consumer_failures import (
    all_committed,
    committed_offsets,
    dead_letters,
    subscribe,
)
from tests.integration.common.test_outbox_and_consumer import payment_method_added
from tests.support import eventually, publish


class Held:
    """A handler that takes its batch, then waits to be let go."""

    def __init__(self) -> None:
        self.taken = asyncio.Event()
        self.let_go = asyncio.Event()
        self.handled: list[str] = []
        self.cancelled = False

    async def __call__(self, events) -> None:
        self.taken.set()
        try:
            await self.let_go.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.handled.extend(event.id for event in events)


async def start_holding(config, kafka_producer) -> tuple[Held, object, str]:
    handler = Held()
    broker = consumer_broker(config)
    subscribe(
        broker,
        BatchConsumer(PaymentMethodAdded, handler, dead_letters(config, kafka_producer)),
        config,
    )
    event = new_event(payment_method_added(), source="/t")
    await publish(config, event)
    await broker.start()
    await asyncio.wait_for(handler.taken.wait(), timeout=30)
    return handler, broker, event.id


async def test_a_stop_waits_for_the_batch_in_hand_and_commits_it(config, kafka_producer):
    handler, broker, event_id = await start_holding(config, kafka_producer)
    stopping = asyncio.create_task(subscription.stop(broker))
    await eventually(lambda: not any(s.running for s in broker.subscribers))
    handler.let_go.set()
    await asyncio.wait_for(stopping, timeout=config.shutdown_grace_seconds)

    assert handler.handled == [event_id]
    assert await all_committed(config, config.group("autopay"), 1)


async def test_a_batch_outlasting_the_grace_is_cancelled_uncommitted(config, kafka_producer):
    config = config.model_copy(update={"shutdown_grace_seconds": 0.5})
    handler, broker, _ = await start_holding(config, kafka_producer)
    await asyncio.wait_for(subscription.stop(broker), timeout=10)

    # Cancelled, not left running over a stopped consumer (nor failed into a dead letter).
    assert handler.cancelled
    assert handler.handled == []
    assert await committed_offsets(config, config.group("autopay")) == {}


async def test_a_batch_in_hand_is_cancelled_even_when_the_brokers_stop_fails(
    config, kafka_producer
):
    config = config.model_copy(update={"shutdown_grace_seconds": 0.5})
    handler, broker, _ = await start_holding(config, kafka_producer)
    stop_broker = broker.stop

    async def failing_stop(*args, **kwargs):
        # As FastStream's does when one of its subscribers fails to stop.
        await stop_broker(*args, **kwargs)
        raise RuntimeError("a subscriber failed to stop")

    broker.stop = failing_stop
    try:
        with pytest.raises(RuntimeError, match="failed to stop"):
            await asyncio.wait_for(subscription.stop(broker), timeout=10)

        assert handler.cancelled
    finally:
        handler.let_go.set()
