"""Errors as JSON: `{"reason": ..., "message": ...}`, with `errors` per field for a bad body.

400 for a malformed request (id, query, If-Match, JSON), 404 for an unknown version, 412 when
If-Match names another version, 422 for a body that is not valid settings, 503 when
PostgreSQL cannot be reached (nothing was saved; retry).
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.common import outage, problems
from services.common.db import TRANSIENT_DB_ERRORS
from services.common.problems import problem as _problem
from services.settings.domain import InvalidContent, VersionConflict

log = logging.getLogger(__name__)

# Bounds on what a bad body makes us write back: a body full of mistakes gets a short answer.
MAX_LISTED_ERRORS = 20
MAX_FIELD_NAME = 100


def install_error_handlers(app: FastAPI) -> None:
    problems.install(app)
    app.add_exception_handler(VersionConflict, _version_conflict)
    app.add_exception_handler(InvalidContent, _invalid_content)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for error in TRANSIENT_DB_ERRORS:
        app.add_exception_handler(error, _unavailable)


def etag(version: int) -> str:
    return f'"{version}"'


async def _unavailable(_: Request, error: Exception) -> JSONResponse:
    # The transaction did not commit: nothing was stored or published, so a retry is safe.
    outage.report(error)
    response = _problem(503, "unavailable", "the settings store is unavailable; retry shortly")
    response.headers["Retry-After"] = "1"
    return response


async def _version_conflict(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, VersionConflict)
    response = _problem(412, "version_mismatch", str(error), current_version=error.current.version)
    response.headers["ETag"] = etag(error.current.version)
    return response


# Addresses are ASCII so that any SMTP server takes them (no SMTPUTF8 needed).
NOT_AN_ADDRESS = (
    "not an address we can send to: ASCII only, like name@example.com "
    "(write an internationalised domain in its xn-- form)"
)


async def _invalid_content(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidContent)
    return _invalid_settings(error.problems)


_MALFORMED = {
    "path": ("invalid_merchant_id", "the merchant id must be 1–64 of A-Z a-z 0-9 _ -"),
    "query": ("invalid_query", "a query parameter is out of range or not a number"),
}


async def _invalid_request(_: Request, error: Exception) -> JSONResponse:
    """400 for what is malformed around the body, 422 for a body that is not valid settings."""
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    for problem in problems:
        where, *rest = problem["loc"]
        if where == "path" and rest == ["version"]:
            return _problem(400, "invalid_version", "the version must be a whole number")
        if where in _MALFORMED:
            return _problem(400, *_MALFORMED[where])
        if problem["type"] == "json_invalid":
            return _problem(400, "malformed_json", "the body is not JSON")
    return _invalid_settings(problems)


def _invalid_settings(problems: list[dict[str, Any]]) -> JSONResponse:
    listed = problems[:MAX_LISTED_ERRORS]
    more = (
        f" (the first {len(listed)} of {len(problems)} problems)" if problems[len(listed) :] else ""
    )
    return _problem(
        422,
        "invalid_settings",
        f"the body is not valid portal settings{more}",
        errors=[_field_problem(problem) for problem in listed],
    )


def _field_problem(problem: dict[str, Any]) -> dict[str, str]:
    """One problem, named by field and rule; the message never quotes the rejected value."""
    path = [str(part)[:MAX_FIELD_NAME] for part in problem["loc"][1:]]
    kind = problem["type"]
    if problem.get("input", ...) is None and kind != "missing":
        reason = "null_value"
    elif kind == "extra_forbidden":
        reason = "unknown_field"
    elif kind == "missing":
        reason = "missing_field"
    elif kind.endswith("_type"):
        reason = "wrong_type"
    elif path[-2:-1] == ["emails"]:
        return {"field": ".".join(path), "reason": "invalid_email", "message": NOT_AN_ADDRESS}
    elif kind == "literal_error" and path[-1:] == ["locale"]:
        reason = "unsupported_locale"
    elif kind == "too_long":
        reason = "too_many_emails" if path[-1:] == ["emails"] else "too_long"
    else:
        reason = kind
    message = _MESSAGES.get(reason, problem["msg"])
    return {"field": ".".join(path) or "body", "reason": reason, "message": message}


# Messages of our own where pydantic's could say more than the rule.
_MESSAGES = {
    "null_value": "null is not a value; leave the field out to keep it",
    "unknown_field": "no such field",
}
