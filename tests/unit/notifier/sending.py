"""Emails queued and sent over the in-memory store, for the sending tests."""

from datetime import timedelta

from services.notifier.delivery import EmailDelivery
from services.notifier.recorder import ChoiceRecorder
from services.notifier.service import project_settings
from tests.integration.notifier.helpers import choice_recorded, settings_changed
from tests.unit.notifier.fake_mailer import FakeMailer
from tests.unit.notifier.fakes import FakeStore

SENDER = 7


def delivery(store: FakeStore, mailer: FakeMailer, **options) -> EmailDelivery:
    options.setdefault("mail_from", "Portal AutoPay <n@portal.example>")
    return EmailDelivery(store, mailer, clock=store.clock, **options)


async def queue(store: FakeStore, merchant: str, *addresses: str) -> str:
    """Queue the emails of one new choice to `addresses`; return its event id."""
    await project_settings(store, [settings_changed(merchant, list(addresses))])
    choice = choice_recorded(merchant)
    await ChoiceRecorder(store, clock=store.clock)([choice])
    return choice.id


def states(store: FakeStore, event_id: str) -> dict[str, tuple[str, int]]:
    return {r: (e.status, e.attempts) for r, e in store.emails_of(event_id).items()}


def wait_of(store: FakeStore, event_id: str, recipient: str) -> timedelta:
    return store.emails_of(event_id)[recipient].next_attempt_at - store.clock()
