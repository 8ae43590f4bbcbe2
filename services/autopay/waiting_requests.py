"""Change requests waiting for their payment method, in the common parking lot.

A thin adapter: the parking lot's API is used here only, so a change of it stays here.
"""

from collections.abc import Collection, Sequence

import asyncpg

from services.autopay.change_outcomes import Request
from services.autopay.repository import SCHEMA
from services.common.contract import AutopayChangeRequested
from services.common.parking import Customer
from services.common.parking_lot import ParkingLot, ToPark

PARKING_SCHEMA = "autopay_changes"
# Stored as the "version waited for" of a request that waits for its payment method.
WAITS_FOR_PAYMENT_METHOD = 0

# When the payment method a parked request (`p`) waits for has a profile.
PAYMENT_METHOD_ARRIVED = f"""EXISTS (
    SELECT 1 FROM {SCHEMA}.payment_profiles pp
    WHERE pp.merchant_id = p.merchant_id AND pp.customer_id = p.customer_id
      AND pp.payment_method_id = p.event->'data'->>'payment_method_id')"""


class WaitingRequests:
    def __init__(self, wait: float) -> None:
        """`wait`: how long a request waits for its payment method at most, in seconds."""
        self.lot = ParkingLot(
            PARKING_SCHEMA, AutopayChangeRequested, arrived=PAYMENT_METHOD_ARRIVED, wait=wait
        )

    async def customers(
        self, connection: asyncpg.Connection, customers: Collection[Customer]
    ) -> set[Customer]:
        return await self.lot.on(connection).customers_with_parked(customers)

    async def park(
        self, connection: asyncpg.Connection, requests: Sequence[tuple[Request, bool]]
    ) -> None:
        rows = [
            ToPark(
                event,
                event.data.merchant_id,
                event.data.customer_id,
                WAITS_FOR_PAYMENT_METHOD if waits else None,
            )
            for event, waits in requests
        ]
        if rows:
            await self.lot.on(connection).park(rows)

    async def take(self, connection: asyncpg.Connection) -> list[Request]:
        """Claim the requests that may go and take them out, in the caller's transaction."""
        parked = self.lot.on(connection)
        events = await parked.claim()
        if events:
            await parked.remove([event.id for event in events])
        return events

    async def seconds_to_next_bound(self, connection: asyncpg.Connection) -> float | None:
        return await self.lot.on(connection).seconds_to_next_bound()
