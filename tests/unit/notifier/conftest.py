import pytest

from tests.unit.notifier.fake_mailer import FakeMailer
from tests.unit.notifier.fakes import FakeStore


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()
