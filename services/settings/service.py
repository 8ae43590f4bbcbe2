"""Use-cases of the settings service: read, replace, patch, browse the history.

A save is one unit of work: lock the merchant's row, decide, and store the new version with
its PortalSettingsChanged in the outbox, all in one transaction. The relay publishes later.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from services.common.contract import ContractModel
from services.common.envelope import CloudEvent, new_event
from services.settings.domain import (
    Changes,
    Content,
    SettingsVersion,
    defaults,
    next_version,
    patched,
    settings_changed,
)

EVENT_SOURCE = "/portal-autopay/settings"

log = logging.getLogger(__name__)


class Repository(Protocol):
    async def lock_current(self, merchant_id: str) -> SettingsVersion | None: ...

    async def add(self, version: SettingsVersion, event: CloudEvent[ContractModel]) -> None: ...

    async def latest(self, merchant_id: str) -> SettingsVersion | None: ...

    async def version(self, merchant_id: str, number: int) -> SettingsVersion | None: ...

    async def history(
        self, merchant_id: str, *, before: int | None, limit: int
    ) -> list[SettingsVersion]: ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Repository]: ...

    def reading(self) -> AbstractAsyncContextManager[Repository]: ...


class VersionNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Saved:
    """The merchant's settings after a save, and whether the save made a new version."""

    current: SettingsVersion
    changed: bool


def event_subject(merchant_id: str) -> str:
    return f"merchants/{merchant_id}"


class SettingsService:
    def __init__(
        self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    async def current(self, merchant_id: str) -> SettingsVersion:
        async with self._store.reading() as repository:
            return await repository.latest(merchant_id) or defaults(merchant_id)

    async def replace(
        self, merchant_id: str, content: Content, *, expected_version: int | None, actor: str
    ) -> Saved:
        """PUT: `content` becomes the settings, unless If-Match names another version."""
        return await self._save(
            merchant_id, lambda _: content, expected_version=expected_version, actor=actor
        )

    async def patch(
        self, merchant_id: str, changes: Changes, *, expected_version: int | None, actor: str
    ) -> Saved:
        """PATCH: apply `changes` to the current settings, read under the merchant's lock."""
        return await self._save(
            merchant_id,
            lambda current: patched(current, changes),
            expected_version=expected_version,
            actor=actor,
        )

    async def history(
        self, merchant_id: str, *, before: int | None, limit: int
    ) -> list[SettingsVersion]:
        async with self._store.reading() as repository:
            return await repository.history(merchant_id, before=before, limit=limit)

    async def version(self, merchant_id: str, number: int) -> SettingsVersion:
        async with self._store.reading() as repository:
            found = await repository.version(merchant_id, number)
        if found is None:
            raise VersionNotFound(f"merchant {merchant_id} has no version {number}")
        return found

    async def _save(
        self,
        merchant_id: str,
        propose: Callable[[Content], Content],
        *,
        expected_version: int | None,
        actor: str,
    ) -> Saved:
        async with self._store.transaction() as repository:
            current = await repository.lock_current(merchant_id) or defaults(merchant_id)
            new = next_version(
                current,
                propose(current.content),
                expected_version=expected_version,
                changed_by=actor,
                changed_at=self._clock(),
            )
            if new is None:
                return Saved(current, changed=False)
            event = new_event(
                settings_changed(current, new),
                source=EVENT_SOURCE,
                subject=event_subject(merchant_id),
            )
            await repository.add(new, event)
        log.info("merchant %s: settings version %d, event %s", merchant_id, new.version, event.id)
        return Saved(new, changed=True)
