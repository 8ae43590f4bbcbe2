"""Errors as JSON, the same shape in every service: `{"reason": ..., "message": ...}`.

A route raises `ApiError`; `install` turns it, and what Starlette itself refuses (unknown
route, wrong method), into that shape.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


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


async def known_query_only(request: Request) -> None:
    """An app-wide dependency: a misspelt query parameter (`limt=5`) is a 400, not ignored."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and set(request.query_params) - _declared_query(route.dependant):
        raise ApiError(400, "invalid_query", "an unknown query parameter was given")


def _declared_query(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _declared_query(dependency)
    return names


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


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals (no route, wrong method) in the one shape, headers kept."""
    assert isinstance(error, StarletteHTTPException)
    reason, message = _HTTP_REASONS.get(error.status_code, ("http_error", str(error.detail)))
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem(error.status_code, reason, message, headers)


_METHODS = ("GET", "PUT", "PATCH", "POST", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette names only the first route's,
    and FastAPI makes one route per method); HEAD wherever GET, as the request guard serves it.
    """
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return [*allowed, "HEAD"] if "GET" in allowed else allowed
