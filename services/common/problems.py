"""Errors as JSON, the same shape in every service: `{"reason": ..., "message": ...}`.

A route raises `ApiError`; `install` turns it, and what Starlette itself refuses (unknown
route, wrong method), into that shape.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.headers, self.extra = headers or {}, extra


def problem(
    status: int, reason: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"reason": reason, "message": message, **extra}, status_code=status, headers=headers
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return problem(error.status, error.reason, error.message, error.headers, **error.extra)


_HTTP_REASONS = {
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "this resource does not answer that method"),
}


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals (no route, wrong method) in the one shape, headers kept."""
    assert isinstance(error, StarletteHTTPException)
    reason, message = _HTTP_REASONS.get(error.status_code, ("http_error", str(error.detail)))
    return problem(error.status_code, reason, message, dict(error.headers or {}))
