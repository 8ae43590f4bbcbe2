"""The parking rules, shared by the services whose events may wait for a settings version.

An event naming a settings version its service has not seen yet waits for it, but never in
the consumer: it is parked, and the events after it are handled at once. Pure functions.
"""

from collections.abc import Collection, Iterable, Sequence

Customer = tuple[str, str]  # (merchant_id, customer_id)


def to_park(events: Iterable[tuple[Customer, bool]], parked: Collection[Customer]) -> list[bool]:
    """Which of `events` (customer, waits for its version), in arrival order, are parked.

    An event waiting for its version is parked, and so is every later event of a customer
    with one parked (`parked`: the customers with events parked already), so that each
    customer's events are decided in the order they arrived.
    """
    queued = set(parked)
    decisions = []
    for customer, waiting in events:
        park = waiting or customer in queued
        if park:
            queued.add(customer)
        decisions.append(park)
    return decisions


def releasable(ready: Sequence[bool]) -> int:
    """How many of a customer's parked events, in order, may be decided now (`ready`: each
    one's version arrived, or its bound passed, or it waits for nothing but the others)."""
    count = 0
    while count < len(ready) and ready[count]:
        count += 1
    return count
