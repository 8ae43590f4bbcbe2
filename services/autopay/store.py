"""The autopay store over PostgreSQL: units of work on a connection of the pool."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from services.autopay.projection import VERSION_ARRIVED, PostgresSettingsProjection
from services.autopay.repository import SCHEMA, PostgresDecisions
from services.common.contract import PaymentMethodAdded
from services.common.parking_lot import ParkingLot


class PostgresUnitOfWork:
    def __init__(self, connection: asyncpg.Connection, lot: ParkingLot[PaymentMethodAdded]):
        self.decisions = PostgresDecisions(connection)
        self.settings = PostgresSettingsProjection(connection)
        self.parked = lot.on(connection)


class PostgresStore:
    """`settings_wait`: how long a parked event waits for its version at most, in seconds."""

    def __init__(self, pool: asyncpg.Pool, *, settings_wait: float) -> None:
        self._pool = pool
        self._lot = ParkingLot(SCHEMA, PaymentMethodAdded, VERSION_ARRIVED, settings_wait)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresUnitOfWork]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresUnitOfWork(connection, self._lot)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[PostgresUnitOfWork]:
        async with self._pool.acquire() as connection:
            yield PostgresUnitOfWork(connection, self._lot)
