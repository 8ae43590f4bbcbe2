"""A batch larger than a chunk, over PostgreSQL: chunks split by customer, their statements
running at once while the next chunk is decided. The rules of chunks (failures, retries) are
unit-tested with fakes."""

import json

from services.autopay.repository import SCHEMA
from services.autopay.service import CHUNK_SIZE, AutopayService
from services.autopay.store import PostgresStore
from tests.integration.autopay.events import payment_method_added, settings_changed
from tests.unit.autopay.fakes import FakePublisher
from tests.unit.autopay.test_service_chunks import by_customer


async def service_with_settings(pool, publish) -> AutopayService:
    service = AutopayService(PostgresStore(pool, settings_wait=0), publish, settings_wait=0)
    await service.record_settings([settings_changed("m", 1, allow_customer_autopay_changes=True)])
    return service


async def outbox_causes(pool) -> list[str]:
    rows = await pool.fetch(f"SELECT value FROM {SCHEMA}.outbox ORDER BY id")
    return [json.loads(row["value"])["caused_by"] for row in rows]


async def test_every_event_of_a_batch_of_several_chunks_is_decided_once_and_the_last_wins(pool):
    published = FakePublisher()
    service = await service_with_settings(pool, published)
    events = [
        payment_method_added("m", f"c{n % 100}", f"pm_{n}", box=True, version=1)
        for n in range(4 * CHUNK_SIZE)
    ]
    # The customer of the first event unticks the box for the same card, last.
    events.append(payment_method_added("m", "c0", "pm_0", box=False, version=1))

    await service.record_payment_methods(events)

    in_order = by_customer([event.id for event in events], events)
    assert sorted(published.causes()) == sorted(event.id for event in events)
    assert by_customer(published.causes(), events) == in_order
    assert by_customer(await outbox_causes(pool), events) == in_order
    profile = await pool.fetchrow(
        f"SELECT auto_process, caused_by FROM {SCHEMA}.payment_profiles WHERE customer_id = 'c0'"
        " AND payment_method_id = 'pm_0'"
    )
    assert dict(profile) == {"auto_process": False, "caused_by": events[-1].id}
