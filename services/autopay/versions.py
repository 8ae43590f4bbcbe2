"""The settings versions a chunk decides with: the projection, behind a bounded LRU cache."""

from collections import OrderedDict
from collections.abc import Iterable

import asyncpg

from services.autopay import repository
from services.common.contract import PortalSettings

VersionKey = tuple[str, int]  # (merchant_id, version)

# Versions kept in memory; they never change once recorded, so a hit needs no query.
VERSIONS_KEPT = 100_000


class SettingsVersions:
    """Versions read once from the projection and kept, the least recently used forgotten first.

    `named` hands each caller its own mapping: forgetting a version afterwards never takes it
    from a chunk that is using it, and a version the cache no longer has is read again.
    """

    def __init__(self, pool: asyncpg.Pool, *, kept: int = VERSIONS_KEPT) -> None:
        self._pool = pool
        self._kept = kept
        self._cache: OrderedDict[VersionKey, PortalSettings] = OrderedDict()

    async def named(self, wanted: Iterable[VersionKey]) -> dict[VersionKey, PortalSettings]:
        """The `wanted` versions the projection holds (those it has not are absent)."""
        found: dict[VersionKey, PortalSettings] = {}
        missing = set()
        for key in wanted:
            settings = self._cache.get(key)
            if settings is None:
                missing.add(key)
            else:
                self._cache.move_to_end(key)
                found[key] = settings
        if missing:
            async with self._pool.acquire() as connection:
                loaded = await repository.load_versions(connection, missing)
            found.update(loaded)
            self._remember(loaded)
        return found

    async def latest(self, merchants: Iterable[str]) -> dict[str, tuple[int, PortalSettings]]:
        """Each merchant's latest projected version (read: a newer one may arrive any time)."""
        async with self._pool.acquire() as connection:
            return await repository.latest_versions(connection, merchants)

    def _remember(self, loaded: dict[VersionKey, PortalSettings]) -> None:
        self._cache.update(loaded)
        while len(self._cache) > self._kept:
            self._cache.popitem(last=False)
