"""Structured logs: one JSON object per line, ready for a log pipeline."""

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.errors import KafkaError
from pydantic_core import to_json


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        # `extra={"fields": {...}}`: values of their own, for a log pipeline to filter on.
        entry.update(getattr(record, "fields", ()))
        # `extra={"lines": [...]}`: one line per item, a batch's in one call (see `log_lines`).
        if lines := getattr(record, "lines", None):
            # The common part serialised once; each item's, in C, appended to it.
            common = json.dumps(entry, ensure_ascii=False)[:-1] + ", "
            return "\n".join(common + to_json(line).decode()[1:] for line in lines)
        return json.dumps(entry, ensure_ascii=False)


def log_lines(logger: logging.Logger, message: str, lines: list[dict]) -> None:
    """One JSON line per item of `lines` (a batch's decisions, say), written in one call:
    a hot path pays one logging call per batch, not per item."""
    if lines and logger.isEnabledFor(logging.INFO):
        logger.info(message, extra={"lines": lines})


def configure_logging(level: str, *, service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # FastStream logs every batch at INFO; keep its warnings and errors only.
    logging.getLogger("faststream").setLevel(max(logging.getLevelName(level), logging.WARNING))
    # aiokafka logs every record it sends, value included, at DEBUG: never records' values.
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.INFO))


def describe_failure(error: BaseException) -> str:
    """What failed and where, fit for a log line or a dead letter: never a record's values.

    The messages of database errors (and of our own code's) can quote the values being
    written, a card number say: only the error's kind, SQLSTATE, constraint and place are
    kept. Broker and network errors speak of servers, never of records: their message stays.
    """
    parts = [type(error).__name__]
    if isinstance(error, KafkaError | OSError):
        parts.append(f"({error})")
    if sqlstate := getattr(error, "sqlstate", None):
        parts.append(f"SQLSTATE {sqlstate}")
    if constraint := getattr(error, "constraint_name", None):
        parts.append(f"constraint {constraint}")
    if frames := traceback.extract_tb(error.__traceback__):
        parts.append(f"at {Path(frames[-1].filename).name}:{frames[-1].lineno}")
    return " ".join(parts)
