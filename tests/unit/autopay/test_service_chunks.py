"""A batch larger than a chunk, over a store in memory: recorded chunk by chunk, in order,
each chunk whole or not at all, and retried as a whole."""

import pytest

from services.autopay.service import CHUNK_SIZE, AutopayService
from tests.integration.autopay.events import payment_method_added, settings_changed
from tests.unit.autopay.fakes import FakePublisher, FakeStore


async def autopay(published: FakePublisher) -> tuple[AutopayService, FakeStore]:
    store = FakeStore()
    service = AutopayService(store, published, settings_wait=5.0)
    await service.record_settings([settings_changed("m", 1, allow_customer_autopay_changes=True)])
    return service, store


def outbox_causes(store: FakeStore) -> list[str]:
    return FakePublisher.causes_of(store.state.outbox)


def decided_now(count: int) -> list:
    return [payment_method_added("m", f"c{n}", box=True, version=1) for n in range(count)]


async def test_every_event_of_a_batch_of_several_chunks_is_decided_once_in_order():
    published = FakePublisher()
    service, store = await autopay(published)
    events = decided_now(2 * CHUNK_SIZE + 1)

    assert await service.record_payment_methods(events) == 0

    assert published.causes() == [event.id for event in events]
    assert outbox_causes(store) == [event.id for event in events]


async def test_a_chunk_failing_to_commit_leaves_nothing_of_it_and_its_retry_repeats_nothing():
    published = FakePublisher()
    service, store = await autopay(published)
    first = decided_now(CHUNK_SIZE)
    # The second chunk parks an event, so it is recorded in a transaction: it fails at COMMIT.
    parked = payment_method_added("m", "waits", version=2)
    second = [parked, payment_method_added("m", "c-after", box=True, version=1)]

    store.fail_next_commit()
    with pytest.raises(ConnectionError, match="injected"):
        await service.record_payment_methods(first + second)

    assert published.causes() == [event.id for event in first]
    assert set(store.state.processed) == {event.id for event in first}
    assert store.state.parked.event_ids == []

    assert await service.record_payment_methods(first + second) == CHUNK_SIZE
    assert published.causes() == [event.id for event in first + second[1:]]
    assert store.state.parked.event_ids == [parked.id]


async def test_a_chunk_whose_statement_fails_records_nothing_and_stops_the_batch():
    published = FakePublisher()
    service, store = await autopay(published)
    events = decided_now(CHUNK_SIZE + 1)

    store.fail_next_write()
    with pytest.raises(ConnectionError, match="injected"):
        await service.record_payment_methods(events)

    assert (store.state.processed, store.state.outbox, published.records) == ({}, [], [])


async def test_a_batch_failing_to_hand_over_its_second_chunk_is_retried_without_repeats():
    published = FakePublisher(failing_calls={2})
    service, store = await autopay(published)
    events = decided_now(2 * CHUNK_SIZE + 10)

    with pytest.raises(RuntimeError, match="injected"):
        await service.record_payment_methods(events)
    await service.record_payment_methods(events)  # what the consumer does with a failed batch

    first, second, third = events[:CHUNK_SIZE], events[CHUNK_SIZE:-10], events[-10:]
    # The second chunk committed before its hand-over failed: its events wait in the outbox
    # for the relay, and the retry publishes them no second time.
    assert published.causes() == [event.id for event in first + third]
    assert outbox_causes(store) == [event.id for event in first + second + third]
