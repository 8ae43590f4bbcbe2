"""Outages are told once, reminded at most once a minute, and their end told once."""

import logging

from services.common.outage import Outage
from services.common.redaction import mask_url, redact


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_dependency_down_for_minutes_is_one_warning_a_reminder_a_minute_and_one_when_back(
    caplog,
):
    clock = Clock()
    postgres = Outage("postgres", clock=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(150):  # a retry a second for two and a half minutes
            postgres.failed(ConnectionRefusedError(111, "Connection refused"))
            clock.now += 1
        postgres.succeeded()
        postgres.succeeded()
    said = warnings(caplog)
    assert len(said) == 4, said
    assert said[0].startswith("postgres is unavailable: ConnectionRefusedError")
    assert said[1].startswith("postgres still unavailable after 60 s")
    assert said[2].startswith("postgres still unavailable after 120 s")
    assert said[3] == "postgres is back after 150 s"
    assert not any(record.exc_info for record in caplog.records)


def test_a_url_is_shown_without_its_password():
    assert mask_url("postgresql://app:s3cr%40t@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert mask_url("smtp://mail.example:25") == "smtp://mail.example:25"


def test_redaction_removes_known_secrets_url_passwords_and_bearer_tokens():
    line = (
        "connect postgresql://app:pw@db/app failed; Authorization: Bearer abc.def.ghi; "
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln; secret hunter2-hunter2"
    )
    redacted = redact(line, ["hunter2-hunter2"])
    for leaked in ("pw@", "abc.def.ghi", "eyJhbGciOiJIUzI1NiJ9", "hunter2-hunter2"):
        assert leaked not in redacted
    assert "postgresql://app:***@db/app" in redacted
