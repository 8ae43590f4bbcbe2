"""The checker itself, on made-up outcomes: it passes a clean run and names each violation."""

import dataclasses
import json
from email.message import EmailMessage

import pytest
from aiokafka import ConsumerRecord

from services.autopay.choices import choice_id
from services.common.envelope import new_event
from services.notifier.domain import message_id
from tests.fault.checker import ChoicesOutOfOrder, Observed, Published, check
from tests.fault.workload import MERCHANTS, payment_methods_added, recipients

MAIL_FROM = "Portal AutoPay <no-reply@portal-autopay.localhost>"


def _clean_run() -> tuple[Published, Observed]:
    published = Published()
    observed = Observed([], [], [], {}, set(), [])
    for event in payment_methods_added(40, seed=1):
        _decide(published, observed, event)
    return published, observed


def _decide(published: Published, observed: Observed, event) -> None:
    """What a correct system does with `event`, and the emails it sends."""
    published.inputs.append(event)
    observed.processed.add(event.id)
    if event not in published.decided():
        return
    data = event.data.model_dump() | {
        "auto_process": True,
        "decided_by": "customer",
        "settings_version": 1,
        "caused_by": event.id,
    }
    ce_id = choice_id(event.id)
    observed.choices.append(_record(len(observed.choices), data, ce_id))
    key = (data["merchant_id"], data["customer_id"], data["payment_method"]["id"])
    observed.profiles[key] = {name: data[name] for name in ("auto_process", "decided_by")} | {
        "settings_version": 1,
        "caused_by": event.id,
    }
    for address in recipients()[data["merchant_id"]]:
        observed.emails.append(
            _email(message_id(ce_id, address, "portal-autopay.localhost"), address)
        )


def _record(offset: int, data: dict, ce_id: str) -> ConsumerRecord:
    return ConsumerRecord(
        "choices",
        0,
        offset,
        0,
        0,
        b"k",
        json.dumps(data).encode(),
        None,
        1,
        1,
        [("ce_id", ce_id.encode())],
    )


def _email(message_id: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"], message["To"] = message_id, to
    return message


def _check(published: Published, observed: Observed, **options) -> None:
    check(published, observed, recipients(), mail_from=MAIL_FROM, **options)


def test_a_clean_run_passes():
    assert len(MERCHANTS) > 1
    _check(*_clean_run())


@pytest.mark.parametrize(
    ("damage", "complaint"),
    [
        (lambda p, o: o.processed.pop(), "inputs never processed"),
        (lambda p, o: o.choices.pop(0), "inputs without an AutopayChoiceRecorded"),
        (lambda p, o: o.profiles.popitem(), "choices without a profile"),
        (lambda p, o: o.emails.pop(), "emails never sent"),
        (lambda p, o: o.emails.append(o.emails[0]), "emails repeated"),
        (
            lambda p, o: o.choices.append(
                dataclasses.replace(o.choices[0], offset=99, headers=[("ce_id", b"other")])
            ),
            "decisions published under several ids",
        ),
        (lambda p, o: p.poison.update({(0, 7): "not JSON"}), "poison records not dead-lettered"),
        (
            lambda p, o: next(iter(o.profiles.values())).update(auto_process=None),
            "profiles that differ from the last choice published",
        ),
    ],
)
def test_each_violation_is_named(damage, complaint):
    published, observed = _clean_run()
    damage(published, observed)
    with pytest.raises(AssertionError, match=complaint):
        _check(published, observed)


def test_an_older_choice_published_again_after_a_newer_one_is_told_apart():
    published, observed = _clean_run()
    first = published.decided()[0]
    _decide(published, observed, new_event(first.data, source="/tests"))
    republished = observed.choices[0]
    observed.choices.append(dataclasses.replace(republished, offset=len(observed.choices)))
    with pytest.raises(ChoicesOutOfOrder):
        _check(published, observed)


def test_another_violation_beside_it_is_not_taken_for_it():
    published, observed = _clean_run()
    first = published.decided()[0]
    _decide(published, observed, new_event(first.data, source="/tests"))
    observed.choices.append(dataclasses.replace(observed.choices[0], offset=99))
    observed.emails.pop()
    with pytest.raises(AssertionError, match="emails never sent") as failure:
        _check(published, observed)
    assert failure.type is AssertionError
