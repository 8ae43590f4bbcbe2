"""The one set of invariants every fault scenario must end with.

- every input is accounted for: decided (a profile and an AutopayChoiceRecorded, or processed
  without a decision on the channels portal settings do not govern), or dead-lettered with its
  reason — and nothing valid is dead-lettered;
- exactly one AutopayChoiceRecorded id per decision (the same id may be published twice);
- every final profile equals the last choice published for its payment method, and that
  choice is the one of the last event sent for it (one customer's events stay in order);
- exactly one email per customer choice and recipient: counted by Message-ID, as a repeat
  after a crash at the SMTP boundary carries the same one; where no process crashed, no repeat.
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

from aiokafka import ConsumerRecord

from services.autopay.domain import needs_settings
from services.common.envelope import CloudEvent
from services.notifier.domain import message_id

ProfileKey = tuple[str, str, str]  # merchant, customer, payment method


@dataclass
class Published:
    """What a scenario sent: the valid events in order, and where its poison records landed."""

    inputs: list[CloudEvent] = field(default_factory=list)
    # (partition, offset) of each record that must be dead-lettered → what it was.
    poison: dict[tuple[int, int], str] = field(default_factory=dict)

    def decided(self) -> list[CloudEvent]:
        """The inputs portal settings govern: each must end in a decision."""
        return [event for event in self.inputs if needs_settings(event.data.channel)]


@dataclass
class Observed:
    choices: list[ConsumerRecord]
    autopay_dlq: list[ConsumerRecord]
    notifier_dlq: list[ConsumerRecord]
    profiles: dict[ProfileKey, dict]
    processed: set[str]
    emails: list[EmailMessage]


def summary(published: Published, observed: Observed) -> str:
    return (
        f"{len(published.inputs)} inputs ({len(published.decided())} decided), "
        f"{len(published.poison)} poison; {len(observed.choices)} choice records "
        f"({len(choices_by_cause(observed.choices))} causes); {len(observed.profiles)} profiles; "
        f"{len(observed.emails)} emails "
        f"({len({str(m['Message-ID']) for m in observed.emails})} Message-IDs); "
        f"dead letters: {len(observed.autopay_dlq)} autopay, {len(observed.notifier_dlq)} notifier"
    )


class ChoicesOutOfOrder(AssertionError):
    """The only violation: for some payment methods an older choice was published after the
    newer one (the profiles are right). Named apart because it had its own cause: the outbox
    relay re-publishing rows the fast path still held (issue 10, defect 5)."""


def check(
    published: Published,
    observed: Observed,
    recipients: dict[str, tuple[str, ...]],
    *,
    mail_from: str,
    email_repeats: bool = False,
) -> None:
    """Fail with every violation found, counted, with a few examples of each."""
    out_of_order = _published_out_of_order(published, observed)
    problems = [
        *_accounted_for(published, observed),
        *_one_choice_id_per_decision(observed),
        *_profiles_follow_the_last_choice(published, observed, out_of_order),
        *_one_email_per_customer_choice(observed, recipients, mail_from, email_repeats),
    ]
    order = _some("payment methods whose last choice published is an older one", out_of_order)
    assert not problems, "invariants broken:\n- " + "\n- ".join(problems + order)
    if order:
        raise ChoicesOutOfOrder(order[0])


def header(record: ConsumerRecord, name: str) -> bytes | None:
    return next((value for key, value in record.headers or () if key == name), None)


def choices_by_cause(records: list[ConsumerRecord]) -> dict[str, list[ConsumerRecord]]:
    by_cause = defaultdict(list)
    for record in records:
        by_cause[json.loads(record.value)["caused_by"]].append(record)
    return by_cause


def expected_emails(
    choices: list[ConsumerRecord], recipients: dict[str, tuple[str, ...]], mail_from: str
) -> dict[str, tuple[str, str]]:
    """Message-ID → (choice id, recipient) of every email the choices call for."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2]
    expected = {}
    for record in choices:
        data, choice = json.loads(record.value), header(record, "ce_id").decode()
        if data["decided_by"] == "customer":
            for address in recipients[data["merchant_id"]]:
                expected[message_id(choice, address, domain)] = (choice, address)
    return expected


def _accounted_for(published: Published, observed: Observed) -> list[str]:
    ids = {event.id for event in published.inputs}
    decided = {event.id for event in published.decided()}
    causes = set(choices_by_cause(observed.choices))
    dead = {_origin(record): record for record in observed.autopay_dlq}
    valid_dead = {
        header(record, "ce_id")
        for record in observed.autopay_dlq
        if _origin(record) not in published.poison
    }
    return [
        *_some("inputs never processed", ids - observed.processed),
        *_some("inputs without an AutopayChoiceRecorded", decided - causes),
        *_some("AutopayChoiceRecorded for no decided input", causes - decided),
        *_some(
            "poison records not dead-lettered",
            [what for origin, what in published.poison.items() if origin not in dead],
        ),
        *_some(
            "dead letters without a reason",
            [origin for origin, record in dead.items() if not header(record, "dlq_error")],
        ),
        *_some("valid records dead-lettered (ce_id)", valid_dead),
        *_some("dead letters at the notifier", [_origin(r) for r in observed.notifier_dlq]),
    ]


def _one_choice_id_per_decision(observed: Observed) -> list[str]:
    ids_of = {
        cause: {header(record, "ce_id") for record in records}
        for cause, records in choices_by_cause(observed.choices).items()
    }
    return _some(
        "decisions published under several ids", [c for c, i in ids_of.items() if len(i) > 1]
    )


def _last_choices(observed: Observed) -> dict[ProfileKey, dict]:
    """Per payment method, the data of the last AutopayChoiceRecorded on its partition."""
    last: dict[ProfileKey, dict] = {}
    for record in sorted(observed.choices, key=lambda r: (r.partition, r.offset)):
        data = json.loads(record.value)
        last[_key(data)] = data
    return last


def _last_inputs(published: Published) -> dict[ProfileKey, str]:
    return {_key(event.data.model_dump()): event.id for event in published.decided()}


def _published_out_of_order(published: Published, observed: Observed) -> list[ProfileKey]:
    """Payment methods whose profile is the last event's decision while the last choice on
    the topic is an older one: a choice published again after a newer one."""
    last_input = _last_inputs(published)
    return [
        key
        for key, choice in _last_choices(observed).items()
        if choice["caused_by"] != last_input.get(key)
        and observed.profiles.get(key, {}).get("caused_by") == last_input.get(key)
    ]


def _profiles_follow_the_last_choice(
    published: Published, observed: Observed, out_of_order: list[ProfileKey]
) -> list[str]:
    last_choice, last_input = _last_choices(observed), _last_inputs(published)
    apart = set(out_of_order)
    differing = [
        key
        for key, choice in last_choice.items()
        if key not in apart and _as_profile(choice) != _as_profile(observed.profiles.get(key, {}))
    ]
    return [
        *_some("profiles without a choice", observed.profiles.keys() - last_choice.keys()),
        *_some("choices without a profile", last_choice.keys() - observed.profiles.keys()),
        *_some("profiles that differ from the last choice published", differing),
        *_some(
            "profiles not decided by the last event sent",
            [
                key
                for key, profile in observed.profiles.items()
                if profile["caused_by"] != last_input.get(key)
            ],
        ),
    ]


def _one_email_per_customer_choice(
    observed: Observed, recipients: dict[str, tuple[str, ...]], mail_from: str, repeats: bool
) -> list[str]:
    expected = expected_emails(observed.choices, recipients, mail_from)
    copies = Counter(str(message["Message-ID"]) for message in observed.emails)
    addressed = defaultdict(set)
    for message in observed.emails:
        addressed[str(message["Message-ID"])].add(str(message["To"]))
    return [
        *_some("emails never sent", [expected[m] for m in expected.keys() - copies.keys()]),
        *_some("emails nobody asked for (Message-ID)", copies.keys() - expected.keys()),
        *_some(
            "emails repeated",
            [] if repeats else [(m, n) for m, n in copies.items() if n > 1],
        ),
        *_some(
            "Message-IDs sent to another recipient",
            [m for m, to in addressed.items() if m in expected and to != {expected[m][1]}],
        ),
    ]


def _origin(record: ConsumerRecord) -> tuple[int, int]:
    return int(header(record, "dlq_original_partition") or -1), int(
        header(record, "dlq_original_offset") or -1
    )


def _key(data: dict) -> ProfileKey:
    return data["merchant_id"], data["customer_id"], data["payment_method"]["id"]


def _as_profile(fields: dict) -> tuple:
    names = ("auto_process", "decided_by", "settings_version", "caused_by")
    return tuple(fields.get(name) for name in names)


def _some(what: str, items) -> list[str]:
    items = list(items)
    if not items:
        return []
    return [f"{len(items)} {what}, e.g. {sorted(items, key=repr)[:3]}"]
