"""The notifier's use-cases: project recipients, record choices (the sender is in sender.py)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from services.common.contract import AutopayChoiceRecorded, PortalSettingsChanged
from services.common.envelope import CloudEvent
from services.notifier import email_queue, repository
from services.notifier.domain import (
    Outcome,
    email_facts,
    merchants_behind,
    outcome_for,
    settings_needed,
    template_for,
)
from services.notifier.email_log import MERCHANT_FACT
from services.notifier.repository import ChoiceRow, EmailRow, Recipients

log = logging.getLogger(__name__)


async def project_settings(
    pool: asyncpg.Pool, events: Sequence[CloudEvent[PortalSettingsChanged]]
) -> None:
    """Keep each merchant's latest recipients and locale; replays and old versions are no-ops."""
    latest: dict[str, PortalSettingsChanged] = {}
    for event in events:
        current = latest.get(event.data.merchant_id)
        if current is None or current.version < event.data.version:
            latest[event.data.merchant_id] = event.data
    async with pool.acquire() as connection, connection.transaction():
        rows = [
            (d.merchant_id, d.version, list(d.notification.emails), d.notification.locale)
            for d in latest.values()
        ]
        await repository.save_recipients(connection, rows)


class ChoiceRecorder:
    """Turns AutopayChoiceRecorded events into queued emails, once per event id.

    A choice made under settings the projection has not seen yet (they travel on another
    topic) waits for them, with back-off, up to `settings_wait` seconds; past that it uses
    the latest recipients known, and says so in the log and in `choices.recipients_version`.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        settings_wait: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._settings_wait = settings_wait
        self._sleep = sleep

    async def __call__(self, events: Sequence[CloudEvent[AutopayChoiceRecorded]]) -> None:
        unique = list({event.id: event for event in events}.values())
        merchants = {event.data.merchant_id for event in unique}
        needed = settings_needed(event.data for event in unique)
        deadline = time.monotonic() + self._settings_wait
        delay = 0.02
        while True:
            async with self._pool.acquire() as connection, connection.transaction():
                known = await repository.recipients_of(connection, merchants)
                behind = merchants_behind(needed, {m: r.version for m, r in known.items()})
                if not behind or time.monotonic() + delay > deadline:
                    if behind:
                        log.warning(
                            "settings of %s not seen after %.0fs; using the latest recipients",
                            ", ".join(behind),
                            self._settings_wait,
                        )
                    await self._record(connection, unique, known)
                    return
            await self._sleep(delay)
            delay = min(delay * 2, 1.0)

    @staticmethod
    async def _record(
        connection: asyncpg.Connection,
        events: Sequence[CloudEvent[AutopayChoiceRecorded]],
        known: dict[str, Recipients],
    ) -> None:
        choices, emails = [], []
        for event in events:
            recipients = known.get(event.data.merchant_id, NO_RECIPIENTS)
            choices.append(_choice_row(event, recipients))
            emails.extend(_email_rows(event, recipients))
        new = await repository.record_choices(connection, choices)
        await repository.add_emails(connection, [row for row in emails if row.event_id in new])
        for choice in choices:
            if choice.event_id in new and choice.outcome == Outcome.NO_RECIPIENT:
                log.info(
                    "choice %s: merchant %s has no notification address",
                    choice.event_id,
                    choice.merchant_id,
                )


NO_RECIPIENTS = Recipients(version=0, emails=[], locale="en")


def _choice_row(event: CloudEvent[AutopayChoiceRecorded], recipients: Recipients) -> ChoiceRow:
    return ChoiceRow(
        event_id=event.id,
        merchant_id=event.data.merchant_id,
        outcome=outcome_for(event.data, recipients.emails),
        settings_version=event.data.settings_version,
        recipients_version=recipients.version,
    )


def _email_rows(event: CloudEvent[AutopayChoiceRecorded], recipients: Recipients) -> list[EmailRow]:
    template = template_for(event.data)
    if template is None:
        return []
    facts = email_facts(
        event.data,
        event_id=event.id,
        occurred_at=event.time or datetime.now(UTC),
        locale=recipients.locale,
    )
    return [
        EmailRow(
            event.id,
            address,
            template,
            recipients.locale,
            {**facts.to_json(), MERCHANT_FACT: event.data.merchant_id},
        )
        for address in dict.fromkeys(recipients.emails)
    ]


async def retry_failed(pool: asyncpg.Pool, event_ids: list[str] | None) -> int:
    """Queue given-up emails again (those of `event_ids`, or all); return how many.

    They keep their Message-ID (derived from the event and the recipient), and a sender
    takes each once, as any queued email.
    """
    async with pool.acquire() as connection, connection.transaction():
        return await email_queue.requeue_failed(connection, event_ids)
