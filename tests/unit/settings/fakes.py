"""A settings store that keeps its state in memory, with the same transaction semantics."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.common.contract import ContractModel
from services.common.envelope import CloudEvent
from services.settings.domain import SettingsVersion


class FakeStore:
    """Versions and outbox in dicts; a transaction's writes appear only if it completes."""

    def __init__(self) -> None:
        self.versions: dict[str, list[SettingsVersion]] = {}
        self.outbox: list[CloudEvent[ContractModel]] = []
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator["FakeRepository"]:
        async with self._lock:
            repository = FakeRepository(
                {merchant: list(versions) for merchant, versions in self.versions.items()},
                list(self.outbox),
            )
            yield repository
            self.versions, self.outbox = repository.versions, repository.outbox

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator["FakeRepository"]:
        yield FakeRepository(self.versions, self.outbox)


class FakeRepository:
    def __init__(
        self, versions: dict[str, list[SettingsVersion]], outbox: list[CloudEvent[ContractModel]]
    ) -> None:
        self.versions = versions
        self.outbox = outbox

    async def lock_current(self, merchant_id: str) -> SettingsVersion | None:
        return await self.latest(merchant_id)

    async def add(self, version: SettingsVersion, event: CloudEvent[ContractModel]) -> None:
        self.versions.setdefault(version.merchant_id, []).append(version)
        self.outbox.append(event)

    async def latest(self, merchant_id: str) -> SettingsVersion | None:
        return (self.versions.get(merchant_id) or [None])[-1]

    async def version(self, merchant_id: str, number: int) -> SettingsVersion | None:
        found = [v for v in self.versions.get(merchant_id, []) if v.version == number]
        return found[0] if found else None

    async def history(
        self, merchant_id: str, *, before: int | None, limit: int
    ) -> list[SettingsVersion]:
        newest_first = reversed(self.versions.get(merchant_id, []))
        return [v for v in newest_first if before is None or v.version < before][:limit]
