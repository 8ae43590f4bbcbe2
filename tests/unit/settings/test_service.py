"""The use-cases over an in-memory store: what is stored and what goes to the outbox."""

from datetime import UTC, datetime

import pytest

from services.common.contract import DEFAULT_NOTIFICATION, Notification
from services.settings.domain import DEFAULT_CONTENT, Changes, Content, VersionConflict
from services.settings.service import SettingsService, VersionNotFound
from tests.unit.settings.fakes import FakeStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ALLOW = Content(
    DEFAULT_CONTENT.settings.model_copy(update={"allow_customer_autopay_changes": True}),
    DEFAULT_NOTIFICATION,
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def service(store: FakeStore) -> SettingsService:
    return SettingsService(store, clock=lambda: NOW)


async def test_a_replacement_stores_version_1_and_records_its_event(service, store):
    saved = await service.replace("m1", ALLOW, expected_version=None, actor="ada")

    assert saved.changed and saved.current.version == 1
    assert store.versions["m1"] == [saved.current]
    [event] = store.outbox
    assert event.type == "PortalSettingsChanged"
    assert (event.source, event.subject) == ("/portal-autopay/settings", "merchants/m1")
    assert (event.data.version, event.data.changed_by, event.data.previous) == (1, "ada", None)


async def test_a_patch_applies_to_the_current_version(service, store):
    await service.replace("m1", ALLOW, expected_version=None, actor="ada")
    saved = await service.patch(
        "m1",
        Changes(notification={"emails": ["ops@example.com"]}),
        expected_version=1,
        actor="bob",
    )
    assert saved.current.version == 2
    assert saved.current.content == Content(
        ALLOW.settings, Notification(emails=["ops@example.com"], locale="en")
    )
    assert store.outbox[-1].data.previous == ALLOW.settings


async def test_a_save_that_changes_nothing_stores_and_records_nothing(service, store):
    await service.replace("m1", ALLOW, expected_version=None, actor="ada")
    saved = await service.patch(
        "m1",
        Changes(settings={"allow_customer_autopay_changes": True}),
        expected_version=None,
        actor="bob",
    )
    assert not saved.changed and saved.current.version == 1
    assert len(store.versions["m1"]) == len(store.outbox) == 1


async def test_a_conflicting_save_stores_and_records_nothing(service, store):
    await service.replace("m1", ALLOW, expected_version=None, actor="ada")
    with pytest.raises(VersionConflict):
        await service.replace("m1", DEFAULT_CONTENT, expected_version=0, actor="bob")
    assert len(store.versions["m1"]) == len(store.outbox) == 1


async def test_each_merchant_has_its_own_sequence_of_versions(service):
    await service.replace("m1", ALLOW, expected_version=None, actor="ada")
    saved = await service.replace("m2", ALLOW, expected_version=None, actor="ada")
    assert saved.current.version == 1
    assert (await service.current("m3")).version == 0


async def test_the_history_is_newest_first_and_pages_on_before(service):
    for locale in ("fr", "en", "fr"):
        await service.patch(
            "m1", Changes(notification={"locale": locale}), expected_version=None, actor="ada"
        )
    assert [v.version for v in await service.history("m1", before=None, limit=2)] == [3, 2]
    assert [v.version for v in await service.history("m1", before=2, limit=2)] == [1]


async def test_an_unknown_version_is_not_found(service):
    await service.replace("m1", ALLOW, expected_version=None, actor="ada")
    assert (await service.version("m1", 1)).content.settings == ALLOW.settings
    with pytest.raises(VersionNotFound):
        await service.version("m1", 2)
    with pytest.raises(VersionNotFound):
        await service.version("m1", 0)
