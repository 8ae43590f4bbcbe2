"""A batch larger than a chunk: recorded chunk by chunk, in order, and retried as a whole."""

import json

import pytest

from services.autopay.repository import SCHEMA
from services.autopay.service import CHUNK_SIZE, AutopayService
from services.autopay.store import PostgresStore
from tests.integration.autopay.events import payment_method_added, settings_changed


class Published:
    """The records the service hands over once committed; fails the calls it is told to."""

    def __init__(self, failing_calls: set[int] = frozenset()) -> None:
        self.records = []
        self._calls = 0
        self._failing = set(failing_calls)

    async def submit(self, records) -> None:
        self._calls += 1
        if self._calls in self._failing:
            raise RuntimeError("injected: the hand-over failed")
        self.records.extend(records)

    def causes(self) -> list[str]:
        return [json.loads(record.value)["caused_by"] for record in self.records]


async def service_with_settings(pool, publish) -> AutopayService:
    service = AutopayService(PostgresStore(pool, settings_wait=0), publish, settings_wait=0)
    await service.record_settings([settings_changed("m", 1, allow_customer_autopay_changes=True)])
    return service


async def outbox_causes(pool) -> list[str]:
    rows = await pool.fetch(f"SELECT value FROM {SCHEMA}.outbox ORDER BY id")
    return [json.loads(row["value"])["caused_by"] for row in rows]


async def test_every_event_of_a_batch_of_several_chunks_is_decided_once_and_the_last_wins(pool):
    published = Published()
    service = await service_with_settings(pool, published)
    events = [
        payment_method_added("m", f"c{n}", box=True, version=1) for n in range(2 * CHUNK_SIZE)
    ]
    # The customer of the first chunk's first event unticks the box for the same card, later.
    events.append(payment_method_added("m", "c0", box=False, version=1))

    await service.record_payment_methods(events)

    assert published.causes() == [event.id for event in events]
    assert await outbox_causes(pool) == [event.id for event in events]
    profile = await pool.fetchrow(
        f"SELECT auto_process, caused_by FROM {SCHEMA}.payment_profiles WHERE customer_id = 'c0'"
    )
    assert dict(profile) == {"auto_process": False, "caused_by": events[-1].id}


async def test_a_batch_failing_in_its_second_chunk_is_retried_without_repeating_the_first(pool):
    published = Published(failing_calls={2})
    service = await service_with_settings(pool, published)
    events = [
        payment_method_added("m", f"c{n}", box=True, version=1) for n in range(2 * CHUNK_SIZE + 10)
    ]

    with pytest.raises(RuntimeError, match="injected"):
        await service.record_payment_methods(events)
    await service.record_payment_methods(events)  # what the consumer does with a failed batch

    first, second, third = events[:CHUNK_SIZE], events[CHUNK_SIZE:-10], events[-10:]
    # The second chunk committed before its hand-over failed: its events wait in the outbox
    # for the relay, and the retry publishes them no second time.
    assert published.causes() == [event.id for event in first + third]
    assert await outbox_causes(pool) == [event.id for event in first + second + third]
