"""A batch larger than a chunk, over a store in memory: recorded in chunks split by customer,
each customer's events in order, each chunk whole or not at all, and retried as a whole."""

import pytest

from services.autopay.batch import chunks
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


def decided_now(count: int, customers: int | None = None) -> list:
    """`count` events decided at once, of `customers` customers (by default one each)."""
    customers = customers or count
    return [
        payment_method_added("m", f"c{n % customers}", f"pm_{n}", box=True, version=1)
        for n in range(count)
    ]


def ids(events) -> list[str]:
    return [event.id for event in events]


def by_customer(causes: list[str], events) -> dict[str, list[str]]:
    """The causes, in their order, by the customer of each."""
    customer_of = {event.id: event.data.customer_id for event in events}
    split: dict[str, list[str]] = {}
    for cause in causes:
        split.setdefault(customer_of[cause], []).append(cause)
    return split


def test_chunks_keep_each_customer_whole_and_in_order_at_about_the_size_asked():
    events = decided_now(4 * CHUNK_SIZE, customers=300)

    split = chunks(events, CHUNK_SIZE)

    assert len(split) == 4
    assert all(CHUNK_SIZE / 2 < len(chunk) < 2 * CHUNK_SIZE for chunk in split)
    assert sorted(ids(e for chunk in split for e in chunk)) == sorted(ids(events))
    customers = [{e.data.customer_id for e in chunk} for chunk in split]
    assert sum(map(len, customers)) == 300  # no customer in two chunks
    for chunk in split:
        assert ids(chunk) == [e.id for e in events if e in chunk]


def test_a_batch_smaller_than_a_chunk_is_one_chunk():
    events = decided_now(CHUNK_SIZE)

    assert chunks(events, CHUNK_SIZE) == [events]


async def test_every_event_of_a_batch_of_several_chunks_is_decided_once_in_customer_order():
    published = FakePublisher()
    service, store = await autopay(published)
    events = decided_now(2 * CHUNK_SIZE + 1, customers=100)

    assert await service.record_payment_methods(events) == 0

    assert sorted(published.causes()) == sorted(ids(events))
    assert by_customer(published.causes(), events) == by_customer(ids(events), events)
    assert by_customer(outbox_causes(store), events) == by_customer(ids(events), events)


async def test_a_chunk_failing_to_commit_leaves_nothing_of_it_and_its_retry_repeats_nothing():
    published = FakePublisher()
    service, store = await autopay(published)
    # The chunk that parks an event is recorded in a transaction: it fails at COMMIT.
    parked = payment_method_added("m", "waits", version=2)
    events = [*decided_now(CHUNK_SIZE), parked]
    (other,) = [chunk for chunk in chunks(events, CHUNK_SIZE) if parked not in chunk]

    store.fail_next_commit()
    with pytest.raises(ConnectionError, match="injected"):
        await service.record_payment_methods(events)

    assert sorted(published.causes()) == sorted(ids(other))
    assert sorted(store.state.processed) == sorted(ids(other))
    assert store.state.parked.event_ids == []

    assert await service.record_payment_methods(events) == len(other)
    assert sorted(published.causes()) == sorted(ids(e for e in events if e is not parked))
    assert store.state.parked.event_ids == [parked.id]


async def test_a_chunk_whose_statement_fails_records_nothing_and_fails_the_batch():
    published = FakePublisher()
    service, store = await autopay(published)
    events = decided_now(CHUNK_SIZE + 1)
    failing = chunks(events, CHUNK_SIZE)[0]  # the first statement sent fails

    store.fail_next_write()
    with pytest.raises(ConnectionError, match="injected"):
        await service.record_payment_methods(events)

    recorded = set(store.state.processed)
    assert not recorded & set(ids(failing))
    assert set(outbox_causes(store)) == set(published.causes()) == recorded

    await service.record_payment_methods(events)  # what the consumer does with a failed batch
    assert sorted(published.causes()) == sorted(ids(events))


async def test_a_batch_failing_to_hand_over_a_chunk_is_retried_without_repeats():
    published = FakePublisher(failing_calls={2})
    service, store = await autopay(published)
    events = decided_now(2 * CHUNK_SIZE + 10)

    with pytest.raises(RuntimeError, match="injected"):
        await service.record_payment_methods(events)
    await service.record_payment_methods(events)  # what the consumer does with a failed batch

    # The chunk committed before its hand-over failed: its events wait in the outbox for the
    # relay, and the retry publishes them no second time.
    assert len(published.causes()) == len(set(published.causes()))
    handed_over_never = set(ids(events)) - set(published.causes())
    assert handed_over_never in [set(ids(chunk)) for chunk in chunks(events, CHUNK_SIZE)]
    assert sorted(outbox_causes(store)) == sorted(ids(events))
