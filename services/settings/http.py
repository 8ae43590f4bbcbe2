"""The HTTP API under /v1: translates requests into service calls and results into JSON.

Errors always have the shape `{"reason": ..., "message": ...}` (plus `errors` per field for
an invalid body): 400 for a malformed request (id, query, header, JSON), 404 for an unknown
version, 412 when If-Match names another version, 422 for a body that is not valid settings.
"""

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.common.contract import Identifier, Locale, Notification, PortalSettings
from services.settings.domain import Changes, Content, SettingsVersion, VersionConflict
from services.settings.service import SettingsService, VersionNotFound

ACTOR_HEADER = "X-Actor"
DEFAULT_ACTOR = "api"
MAX_PAGE = 100

MerchantId = Annotated[
    str, Path(pattern=Identifier.__metadata__[0].pattern, description="1–64 of A-Z a-z 0-9 _ -")
]
Actor = Annotated[
    str,
    Header(
        alias=ACTOR_HEADER,
        min_length=1,
        max_length=200,
        description="Who makes the change, recorded as `updated_by` and the event's "
        f"`changed_by`; `{DEFAULT_ACTOR}` when absent.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='`"<version>"` (the ETag of what you edited): 412 if it is no longer current.',
    ),
]


# Request bodies forbid unknown fields: a misspelt switch name is a 422, not silently ignored.
class SettingsIn(PortalSettings):
    model_config = ConfigDict(extra="forbid")


def _distinct(emails: list[str] | None) -> list[str] | None:
    # One address twice would get every email twice.
    if emails is not None and len({email.lower() for email in emails}) != len(emails):
        raise PydanticCustomError("duplicate_email", "the same address appears twice")
    return emails


class NotificationIn(Notification):
    model_config = ConfigDict(extra="forbid")

    _distinct_emails = field_validator("emails")(_distinct)


class ReplaceBody(BaseModel):
    """PUT: the whole settings document."""

    model_config = ConfigDict(strict=True, extra="forbid")

    settings: SettingsIn
    notification: NotificationIn


class _Partial(BaseModel):
    """A PATCH part: absent fields keep their value; null is not a value any field takes."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="after")
    def _no_nulls(self) -> "_Partial":
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise PydanticCustomError(
                "null_value", "null given for {fields}", {"fields": ", ".join(sorted(nulls))}
            )
        return self


def _switch(name: str) -> Any:
    return Field(default=None, description=PortalSettings.model_fields[name].description)


class SettingsPatch(_Partial):
    allow_customer_autopay_changes: bool | None = _switch("allow_customer_autopay_changes")
    auto_enable_autopay_on_new_payment_method: bool | None = _switch(
        "auto_enable_autopay_on_new_payment_method"
    )
    default_use_for_autopay_checked: bool | None = _switch("default_use_for_autopay_checked")
    auto_enable_autopay_on_payment_link: bool | None = _switch(
        "auto_enable_autopay_on_payment_link"
    )


class NotificationPatch(_Partial):
    emails: list[EmailStr] | None = Field(default=None, max_length=10)
    locale: Locale | None = None

    _distinct_emails = field_validator("emails")(_distinct)


class PatchBody(_Partial):
    """PATCH: only the fields given change."""

    settings: SettingsPatch | None = None
    notification: NotificationPatch | None = None


class SettingsDocument(BaseModel):
    merchant_id: str
    version: int = Field(description="0: the defaults, never saved.")
    settings: PortalSettings
    notification: Notification
    updated_at: datetime | None
    updated_by: str | None


class VersionPage(BaseModel):
    merchant_id: str
    versions: list[SettingsDocument] = Field(description="Newest first.")
    next: str | None = Field(description="The URL of the next (older) page, or null.")


class Problem(BaseModel):
    reason: str
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Malformed id, query, header or JSON."},
}
SAVE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    412: {"model": Problem, "description": "If-Match names a version that is not current."},
    422: {"model": Problem, "description": "The body is not valid settings."},
}


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.extra = status, reason, message, extra


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/merchants/{merchant_id}/portal-settings", tags=["settings"])

    @api.get("", response_model=SettingsDocument, responses=ERRORS)
    async def get_settings(merchant_id: MerchantId, request: Request, response: Response):
        """The merchant's current settings (the defaults, version 0, if never saved)."""
        current = await _service(request).current(merchant_id)
        response.headers["ETag"] = _etag(current.version)
        return _document(current)

    @api.put("", response_model=SettingsDocument, responses=SAVE_ERRORS)
    async def replace_settings(
        merchant_id: MerchantId,
        body: ReplaceBody,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        actor: Actor = DEFAULT_ACTOR,
    ):
        """Replace the whole document; a new version only if something changed."""
        saved = await _service(request).replace(
            merchant_id,
            Content(
                PortalSettings.model_validate(body.settings.model_dump()),
                Notification.model_validate(body.notification.model_dump()),
            ),
            expected_version=_expected_version(if_match),
            actor=actor,
        )
        response.headers["ETag"] = _etag(saved.current.version)
        return _document(saved.current)

    @api.patch("", response_model=SettingsDocument, responses=SAVE_ERRORS)
    async def patch_settings(
        merchant_id: MerchantId,
        body: PatchBody,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        actor: Actor = DEFAULT_ACTOR,
    ):
        """Change only the fields given; a new version only if something changed."""
        changes = Changes(
            settings=body.settings.model_dump(exclude_unset=True) if body.settings else {},
            notification=(
                body.notification.model_dump(exclude_unset=True) if body.notification else {}
            ),
        )
        saved = await _service(request).patch(
            merchant_id, changes, expected_version=_expected_version(if_match), actor=actor
        )
        response.headers["ETag"] = _etag(saved.current.version)
        return _document(saved.current)

    @api.get("/versions", response_model=VersionPage, responses=ERRORS)
    async def list_versions(
        merchant_id: MerchantId,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        before: Annotated[int | None, Query(ge=1, description="Versions older than this.")] = None,
    ):
        """The history of the merchant's settings, newest first, `limit` per page."""
        versions = await _service(request).history(merchant_id, before=before, limit=limit)
        last = versions[-1].version if versions else 0
        more = len(versions) == limit and last > 1
        return VersionPage(
            merchant_id=merchant_id,
            versions=[_document(version) for version in versions],
            next=f"{request.url.path}?limit={limit}&before={last}" if more else None,
        )

    @api.get(
        "/versions/{version}",
        response_model=SettingsDocument,
        responses={**ERRORS, 404: {"model": Problem, "description": "No such version."}},
    )
    async def get_version(
        merchant_id: MerchantId,
        version: Annotated[int, Path(ge=0)],
        request: Request,
        response: Response,
    ):
        """One stored version (1, 2, 3…)."""
        try:
            found = await _service(request).version(merchant_id, version)
        except VersionNotFound as error:
            raise ApiError(404, "version_not_found", str(error)) from None
        response.headers["ETag"] = _etag(found.version)
        return _document(found)

    return api


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(VersionConflict, _version_conflict)
    app.add_exception_handler(RequestValidationError, _invalid_request)


def _service(request: Request) -> SettingsService:
    return request.app.state.settings_service


def _document(version: SettingsVersion) -> SettingsDocument:
    return SettingsDocument(
        merchant_id=version.merchant_id,
        version=version.version,
        settings=version.content.settings,
        notification=version.content.notification,
        updated_at=version.changed_at,
        updated_by=version.changed_by,
    )


def _etag(version: int) -> str:
    return f'"{version}"'


_ENTITY_TAG = re.compile(r'^\s*(?:"(\d{1,9})"|(\d{1,9})|(\*))\s*$')


def _expected_version(if_match: str | None) -> int | None:
    """The version named by If-Match; None when absent or `*` (any version will do)."""
    if if_match is None:
        return None
    match = _ENTITY_TAG.match(if_match)
    if match is None:
        raise ApiError(
            400, "invalid_if_match", 'If-Match must be "<version>" as given by the ETag header'
        )
    quoted, bare, _ = match.groups()
    number = quoted or bare
    return int(number) if number is not None else None


def _problem(status: int, reason: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"reason": reason, "message": message, **extra}, status_code=status)


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _problem(error.status, error.reason, error.message, **error.extra)


async def _version_conflict(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, VersionConflict)
    response = _problem(412, "version_mismatch", str(error), current_version=error.current.version)
    response.headers["ETag"] = _etag(error.current.version)
    return response


_MALFORMED = {
    "path": ("invalid_merchant_id", "the merchant id must be 1–64 of A-Z a-z 0-9 _ -"),
    "query": ("invalid_query", "a query parameter is out of range or not a number"),
    "header": ("invalid_header", "a header is malformed"),
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
    return _problem(
        422,
        "invalid_settings",
        "the body is not valid portal settings",
        errors=[_field_problem(problem) for problem in problems],
    )


def _field_problem(problem: dict[str, Any]) -> dict[str, str]:
    path = [str(part) for part in problem["loc"][1:]]
    kind = problem["type"]
    if kind == "extra_forbidden":
        reason = "unknown_field"
    elif kind == "missing":
        reason = "missing_field"
    elif kind.endswith("_type"):
        reason = "wrong_type"
    elif kind == "value_error" and "emails" in path:
        reason = "invalid_email"
    elif kind == "literal_error" and path[-1:] == ["locale"]:
        reason = "unsupported_locale"
    elif kind == "too_long":
        reason = "too_many_emails" if path[-1:] == ["emails"] else "too_long"
    else:
        reason = kind
    return {"field": ".".join(path) or "body", "reason": reason, "message": problem["msg"]}
