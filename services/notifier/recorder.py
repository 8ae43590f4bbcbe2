"""The use-case that turns AutopayChoiceRecorded events into queued emails, once per event id."""

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from services.common.contract import AutopayChoiceRecorded
from services.common.envelope import CloudEvent
from services.common.parking import to_park
from services.common.parking_lot import ToPark
from services.common.releaser import Releaser
from services.notifier.domain import (
    Outcome,
    email_facts,
    outcome_for,
    template_for,
    waits_for_settings,
)
from services.notifier.email_log import MERCHANT_FACT
from services.notifier.service import (
    NO_RECIPIENTS,
    ChoiceRow,
    EmailRow,
    Recipients,
    Store,
    UnitOfWork,
)

log = logging.getLogger(__name__)

Choice = CloudEvent[AutopayChoiceRecorded]


class ChoiceRecorder:
    """Records each choice with its emails, one per recipient, in one unit of work.

    A choice made under settings the projection has not seen yet (they travel on another
    topic) is parked, with the later choices of its customer, and the other choices go on:
    it is decided when that version arrives or, past `settings_wait` seconds, with the
    latest recipients known, as the log and `choices.recipients_version` say. Run
    `releaser.run()` to decide the parked choices; `settings_arrived()` wakes it.
    """

    def __init__(
        self,
        store: Store,
        *,
        settings_wait: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings_wait = settings_wait
        self._clock = clock
        self.releaser = Releaser(self)

    async def __call__(self, events: Sequence[Choice]) -> None:
        unique = list({event.id: event for event in events}.values())
        async with self._store.transaction() as work:
            done = await work.choices.recorded_among([e.id for e in unique])
            new = [event for event in unique if event.id not in done]
            known = await work.recipients.of({e.data.merchant_id for e in new})
            now, later = await self._sort_out(work, new, known)
            await self._record(work, now, known)
            if later:
                await work.parked.park(later)
        if later:
            self.releaser.wake()  # one parked behind a choice that just left may go too

    def settings_arrived(self) -> None:
        self.releaser.wake()

    async def release_parked(self) -> bool:
        """Decide the parked choices that may go (in one unit of work); False when none may."""
        async with self._store.transaction() as work:
            events = await work.parked.claim()
            if not events:
                return False
            known = await work.recipients.of({e.data.merchant_id for e in events})
            behind = [e.id for e in events if self._waits(e, known)]
            if behind:
                log.warning(
                    "settings of choices %s not seen after %.0fs; using the latest recipients",
                    ", ".join(behind),
                    self._settings_wait,
                )
            await work.parked.remove([e.id for e in events])
            await self._record(work, events, known)
        return True

    async def seconds_to_next_bound(self) -> float | None:
        async with self._store.statements() as work:
            return await work.parked.seconds_to_next_bound()

    async def _sort_out(
        self, work: UnitOfWork, events: Sequence[Choice], known: dict[str, Recipients]
    ) -> tuple[list[Choice], list[ToPark]]:
        """The choices to decide now, and those to park: waiting for their settings version,
        or behind a parked choice of their customer."""
        customers = [(e.data.merchant_id, e.data.customer_id) for e in events]
        waiting = [self._waits(e, known) for e in events]
        parked = await work.parked.customers_with_parked(set(customers))
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

    def _waits(self, event: Choice, known: dict[str, Recipients]) -> bool:
        # With no wait allowed, nothing is parked for its version.
        recipients = known.get(event.data.merchant_id, NO_RECIPIENTS)
        return self._settings_wait > 0 and waits_for_settings(event.data, recipients.version)

    async def _record(
        self, work: UnitOfWork, events: Sequence[Choice], known: dict[str, Recipients]
    ) -> None:
        choices, emails = [], []
        for event in events:
            recipients = known.get(event.data.merchant_id, NO_RECIPIENTS)
            choices.append(_choice_row(event, recipients))
            emails.extend(_email_rows(event, recipients, event.time or self._clock()))
        new = await work.choices.record(choices)
        await work.emails.add([row for row in emails if row.event_id in new])
        for choice in choices:
            if choice.event_id in new and choice.outcome == Outcome.NO_RECIPIENT:
                log.info(
                    "choice %s: merchant %s has no notification address",
                    choice.event_id,
                    choice.merchant_id,
                )


def _choice_row(event: Choice, recipients: Recipients) -> ChoiceRow:
    return ChoiceRow(
        event_id=event.id,
        merchant_id=event.data.merchant_id,
        outcome=outcome_for(event.data, recipients.emails),
        settings_version=event.data.settings_version,
        recipients_version=recipients.version,
    )


def _email_rows(event: Choice, recipients: Recipients, occurred_at: datetime) -> list[EmailRow]:
    """One email per distinct address, in the merchant's language."""
    template = template_for(event.data)
    if template is None:
        return []
    facts = email_facts(
        event.data, event_id=event.id, occurred_at=occurred_at, locale=recipients.locale
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
