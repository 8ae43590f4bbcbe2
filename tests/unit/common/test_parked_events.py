"""The parked events' rules, on the fake that the services' unit tests use."""

from services.common.contract import PaymentMethod, PaymentMethodAdded
from services.common.envelope import CloudEvent, new_event
from services.common.parking_lot import ToPark
from tests.unit.fakes.parking import FakeClock, FakeParkedEvents


def _event(customer_id: str) -> CloudEvent:
    data = PaymentMethodAdded(
        merchant_id="m",
        customer_id=customer_id,
        customer_name="Ada Lovelace",
        payment_method=PaymentMethod(id="pm_1", type="card", brand="visa", last4="4242"),
        channel="customer_portal",
    )
    return new_event(data, source="/tests")


def _waiting(customer_id: str, version: int | None = 2) -> ToPark:
    return ToPark(_event(customer_id), "m", customer_id, version)


async def test_an_event_waiting_for_a_version_not_arrived_stays_parked():
    parked = FakeParkedEvents()
    await parked.park([_waiting("ann")])
    assert await parked.claim() == []


async def test_an_event_leaves_once_its_version_arrives():
    arrived: set[int] = set()
    parked = FakeParkedEvents(arrived=lambda row: row.settings_version in arrived)
    row = _waiting("ann")
    await parked.park([row])
    arrived.add(2)
    assert await parked.claim() == [row.event]


async def test_an_event_leaves_once_its_bound_passes():
    clock = FakeClock()
    parked = FakeParkedEvents(wait=5.0, clock=clock)
    row = _waiting("ann")
    await parked.park([row])
    clock.advance(4.9)
    assert await parked.claim() == []
    clock.advance(0.1)
    assert await parked.claim() == [row.event]


async def test_a_later_event_of_a_customer_leaves_only_behind_the_earlier_one():
    clock = FakeClock()
    parked = FakeParkedEvents(wait=5.0, clock=clock)
    first, behind = _waiting("ann"), _waiting("ann", version=None)
    await parked.park([first, behind])
    assert await parked.claim() == []
    clock.advance(5.0)
    assert await parked.claim() == [first.event, behind.event]


async def test_one_customer_waiting_does_not_hold_back_another():
    parked = FakeParkedEvents()
    waiting, free = _waiting("ann"), _waiting("bob", version=None)
    await parked.park([waiting, free])
    assert await parked.claim() == [free.event]
    assert await parked.customers_with_parked({("m", "ann"), ("m", "bob"), ("m", "cy")}) == {
        ("m", "ann"),
        ("m", "bob"),
    }


async def test_claimed_events_leave_in_arrival_order_across_customers():
    parked = FakeParkedEvents()
    rows = [_waiting("bob", None), _waiting("ann", None), _waiting("bob", None)]
    await parked.park(rows)
    assert await parked.claim() == [row.event for row in rows]


async def test_an_event_parked_twice_keeps_its_first_place_and_bound():
    clock = FakeClock()
    parked = FakeParkedEvents(wait=5.0, clock=clock)
    row = _waiting("ann")
    await parked.park([row])
    clock.advance(3.0)
    await parked.park([row])
    assert parked.event_ids == [row.event.id]
    assert await parked.seconds_to_next_bound() == 2.0


async def test_removed_events_are_no_longer_parked():
    parked = FakeParkedEvents()
    row = _waiting("ann", None)
    await parked.park([row])
    await parked.remove([row.event.id])
    assert await parked.claim() == []
    assert await parked.customers_with_parked({("m", "ann")}) == set()


async def test_only_events_waiting_for_a_version_have_a_bound():
    parked = FakeParkedEvents(wait=5.0)
    await parked.park([_waiting("ann", None)])
    assert await parked.seconds_to_next_bound() is None
    await parked.park([_waiting("bob")])
    assert await parked.seconds_to_next_bound() == 5.0


async def test_a_copy_parks_apart_from_the_original():
    parked = FakeParkedEvents()
    unit_of_work = parked.copy()
    await unit_of_work.park([_waiting("ann")])
    assert parked.event_ids == []
    assert len(unit_of_work.event_ids) == 1
