"""The notifier's use-cases: project recipients, record choices (the sender is in sender.py)."""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.common.contract import AutopayChoiceRecorded, PortalSettingsChanged
from services.common.envelope import CloudEvent
from services.common.parking import to_park
from services.common.parking_lot import ParkingLot, ToPark
from services.common.releaser import Releaser
from services.notifier import email_queue, repository
from services.notifier.domain import (
    Outcome,
    email_facts,
    outcome_for,
    template_for,
    waits_for_settings,
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
    topic) is parked, with the later choices of its customer, and the other choices go on:
    it is decided when that version arrives or, past `settings_wait` seconds, with the
    latest recipients known, as the log and `choices.recipients_version` say. Run
    `releaser.run()` to decide the parked choices; `settings_arrived()` wakes it.
    """

    def __init__(self, pool: asyncpg.Pool, *, settings_wait: float = 10.0) -> None:
        self._pool = pool
        self._settings_wait = settings_wait
        self._parking = ParkingLot(
            repository.SCHEMA,
            AutopayChoiceRecorded,
            arrived=repository.RECIPIENTS_ARRIVED,
            wait=settings_wait,
        )
        self.releaser = Releaser(self)

    async def __call__(self, events: Sequence[CloudEvent[AutopayChoiceRecorded]]) -> None:
        unique = list({event.id: event for event in events}.values())
        async with self._pool.acquire() as connection, connection.transaction():
            done = await repository.recorded_among(connection, [e.id for e in unique])
            new = [event for event in unique if event.id not in done]
            known = await repository.recipients_of(connection, {e.data.merchant_id for e in new})
            now, later = await self._sort_out(connection, new, known)
            await self._record(connection, now, known)
            if later:
                await self._parking.on(connection).park(later)
        if later:
            self.releaser.wake()  # one parked behind a choice that just left may go too

    async def _sort_out(
        self,
        connection: asyncpg.Connection,
        events: Sequence[CloudEvent[AutopayChoiceRecorded]],
        known: dict[str, Recipients],
    ) -> tuple[list[CloudEvent[AutopayChoiceRecorded]], list[ToPark]]:
        """The choices to decide now, and those to park: waiting for their settings version,
        or behind a parked choice of their customer."""
        customers = [(e.data.merchant_id, e.data.customer_id) for e in events]
        waiting = [self._waits(e, known) for e in events]
        parked = await self._parking.on(connection).customers_with_parked(set(customers))
        parks = to_park(zip(customers, waiting, strict=True), parked)
        now, later = [], []
        for event, customer, waits, park in zip(events, customers, waiting, parks, strict=True):
            if park:
                later.append(
                    ToPark(event, *customer, event.data.settings_version if waits else None)
                )
            else:
                now.append(event)
        return now, later

    def settings_arrived(self) -> None:
        self.releaser.wake()

    async def release_parked(self) -> bool:
        """Decide the parked choices that may go (in one transaction); False when none may."""
        async with self._pool.acquire() as connection, connection.transaction():
            events = await self._parking.on(connection).claim()
            if not events:
                return False
            known = await repository.recipients_of(connection, {e.data.merchant_id for e in events})
            behind = [e.id for e in events if self._waits(e, known)]
            if behind:
                log.warning(
                    "settings of choices %s not seen after %.0fs; using the latest recipients",
                    ", ".join(behind),
                    self._settings_wait,
                )
            await self._parking.on(connection).remove([e.id for e in events])
            await self._record(connection, events, known)
        return True

    async def seconds_to_next_bound(self) -> float | None:
        async with self._pool.acquire() as connection:
            return await self._parking.on(connection).seconds_to_next_bound()

    def _waits(
        self, event: CloudEvent[AutopayChoiceRecorded], known: dict[str, Recipients]
    ) -> bool:
        # With no wait allowed, nothing is parked for its version.
        recipients = known.get(event.data.merchant_id, NO_RECIPIENTS)
        return self._settings_wait > 0 and waits_for_settings(event.data, recipients.version)

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
