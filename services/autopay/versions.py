"""The settings versions a chunk decides with: the projection, behind a bounded LRU cache."""

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from services.autopay.domain import DEFAULTS_VERSION
from services.autopay.ports import Store
from services.common.contract import PaymentMethodAdded, PortalSettings
from services.common.envelope import CloudEvent

VersionKey = tuple[str, int]  # (merchant_id, version)

# Versions kept in memory; they never change once recorded, so a hit needs no query.
VERSIONS_KEPT = 100_000


class SettingsVersions:
    """Versions read once from the projection and kept, the least recently used forgotten first.

    `named` hands each caller its own mapping: forgetting a version afterwards never takes it
    from a chunk that is using it, and a version the cache no longer has is read again.
    """

    def __init__(self, store: Store, *, kept: int = VERSIONS_KEPT) -> None:
        self._store = store
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
            async with self._store.session() as unit:
                loaded = await unit.settings.load_versions(missing)
            found.update(loaded)
            self._remember(loaded)
        return found

    async def settings_for(
        self,
        events: Sequence[CloudEvent[PaymentMethodAdded]],
        named: Mapping[VersionKey, PortalSettings],
    ) -> dict[str, dict[int, PortalSettings]]:
        """Per merchant: the `named` versions the events ask for, plus the latest projected
        (read each time: a newer one may arrive any time) where no named version applies."""
        known: dict[str, dict[int, PortalSettings]] = {}
        need_latest = set()
        for event in events:
            merchant, version = event.data.merchant_id, event.data.portal_settings_version
            if version and (merchant, version) in named:
                known.setdefault(merchant, {})[version] = named[merchant, version]
            elif version != DEFAULTS_VERSION:
                need_latest.add(merchant)
        if need_latest:
            async with self._store.session() as unit:
                latest = await unit.settings.latest_versions(need_latest)
            for merchant, (version, settings) in latest.items():
                known.setdefault(merchant, {})[version] = settings
        return known

    def _remember(self, loaded: dict[VersionKey, PortalSettings]) -> None:
        self._cache.update(loaded)
        while len(self._cache) > self._kept:
            self._cache.popitem(last=False)


def named_versions(events: Sequence[CloudEvent[PaymentMethodAdded]]) -> set[VersionKey]:
    """The versions the events name (0, the defaults, and None, the latest, are no names)."""
    return {
        (e.data.merchant_id, e.data.portal_settings_version)
        for e in events
        if e.data.portal_settings_version
    }
