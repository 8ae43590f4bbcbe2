"""The HTTP API under /v1: translates requests into service calls and results into JSON."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BeforeValidator, Field

from services.common.auth import Principal
from services.common.bearer import AUTH_RESPONSES, requires
from services.common.contract import Identifier, Notification, PortalSettings
from services.common.problems import ApiError
from services.settings.api_models import (
    PatchBody,
    Problem,
    ReplaceBody,
    SettingsDocument,
    VersionPage,
)
from services.settings.domain import Changes, Content, SettingsVersion
from services.settings.problems import etag
from services.settings.service import SettingsService, VersionNotFound

MAX_PAGE = 100
# Versions are PostgreSQL integers: a larger number in a URL is malformed, not a server error.
MAX_VERSION = 2**31 - 1

_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")


def _canonical(text: object) -> object:
    """`7`, never `07`, `+7` or `0_7` (which int() would take): one spelling per version."""
    if isinstance(text, str) and not _DECIMAL.match(text):
        raise ValueError("not a canonical decimal")
    return text


def _version(lowest: int) -> Any:
    return Annotated[int, Field(ge=lowest, le=MAX_VERSION), BeforeValidator(_canonical)]


_ENTITY_TAG_PATTERN = r'^\s*(?:"(\d{1,9})"|(\d{1,9})|(\*))\s*$'
MerchantId = Annotated[Identifier, Path(description="1–64 of A-Z a-z 0-9 _ -")]


# A token for another merchant: answered as for a merchant that does not exist.
UNKNOWN_MERCHANT = ApiError(404, "unknown_merchant", "no such merchant")
Reader = Annotated[Principal, Depends(requires("settings:read", hidden=UNKNOWN_MERCHANT))]
Writer = Annotated[Principal, Depends(requires("settings:write", hidden=UNKNOWN_MERCHANT))]
IfMatch = Annotated[
    str,
    Header(
        alias="If-Match",
        description='`"<version>"` (the ETag of what you edited): 412 if it is no longer current.',
        # Documented, but checked by `_expected_version`, for its own reason (invalid_if_match).
        json_schema_extra={"pattern": _ENTITY_TAG_PATTERN},
    ),
]


ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    400: {"model": Problem, "description": "Malformed id, query, header or JSON."},
    404: {"model": Problem, "description": "A merchant the token may not act for."},
    503: {"model": Problem, "description": "PostgreSQL unreachable: nothing saved, retry."},
}
SAVE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    412: {"model": Problem, "description": "If-Match names a version that is not current."},
    422: {"model": Problem, "description": "The body is not valid settings."},
}


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/merchants/{merchant_id}/portal-settings", tags=["settings"])

    @api.get("", response_model=SettingsDocument, responses=ERRORS)
    async def get_settings(
        merchant_id: MerchantId, request: Request, response: Response, _: Reader
    ):
        """The merchant's current settings (the defaults, version 0, if never saved)."""
        current = await _service(request).current(merchant_id)
        response.headers["ETag"] = etag(current.version)
        return _document(current)

    @api.put("", response_model=SettingsDocument, responses=SAVE_ERRORS)
    async def replace_settings(
        merchant_id: MerchantId,
        body: ReplaceBody,
        request: Request,
        response: Response,
        caller: Writer,
        if_match: IfMatch = None,
    ):
        """Replace the whole document; a new version only if something changed."""
        saved = await _service(request).replace(
            merchant_id,
            Content(
                PortalSettings.model_validate(body.settings.model_dump()),
                Notification.model_validate(body.notification.model_dump()),
            ),
            expected_version=_expected_version(if_match),
            actor=caller.subject,
        )
        response.headers["ETag"] = etag(saved.current.version)
        return _document(saved.current)

    @api.patch("", response_model=SettingsDocument, responses=SAVE_ERRORS)
    async def patch_settings(
        merchant_id: MerchantId,
        body: PatchBody,
        request: Request,
        response: Response,
        caller: Writer,
        if_match: IfMatch = None,
    ):
        """Change only the fields given; a new version only if something changed."""
        changes = Changes(
            settings=body.settings.model_dump(exclude_unset=True) if body.settings else {},
            notification=(
                body.notification.model_dump(exclude_unset=True) if body.notification else {}
            ),
        )
        saved = await _service(request).patch(
            merchant_id, changes, expected_version=_expected_version(if_match), actor=caller.subject
        )
        response.headers["ETag"] = etag(saved.current.version)
        return _document(saved.current)

    @api.get("/versions", response_model=VersionPage, responses=ERRORS)
    async def list_versions(
        merchant_id: MerchantId,
        request: Request,
        _: Reader,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        # None only as "absent": the document allows no null.
        before: Annotated[_version(1), Query(description="Versions older than this.")] = None,
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
        responses={
            **ERRORS,
            404: {"model": Problem, "description": "No such version, or merchant."},
        },
    )
    async def get_version(
        merchant_id: MerchantId,
        version: Annotated[_version(0), Path()],
        request: Request,
        response: Response,
        _: Reader,
    ):
        """One stored version (1, 2, 3…)."""
        try:
            found = await _service(request).version(merchant_id, version)
        except VersionNotFound as error:
            raise ApiError(404, "version_not_found", str(error)) from None
        response.headers["ETag"] = etag(found.version)
        return _document(found)

    return api


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


_ENTITY_TAG = re.compile(_ENTITY_TAG_PATTERN)


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
