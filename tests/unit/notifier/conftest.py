import pytest

from tests.unit.notifier.fakes import FakeMailer, FakeStore


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()
