"""HTTP routes: read a customer's payment profiles."""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.autopay.change_outcomes import HistoryEntry
from services.autopay.customer_changes import CustomerChanges
from services.autopay.records import StoredProfile
from services.autopay.service import AutopayService
from services.common import problems
from services.common.auth import Principal
from services.common.bearer import AUTH_RESPONSES, requires
from services.common.contract import Identifier
from services.common.problems import ApiError, problem

IdentifierPath = Annotated[Identifier, Path(description="1–64 of A-Z a-z 0-9 _ -")]
# Another merchant's customer is answered exactly as a customer without profiles.
UNKNOWN_CUSTOMER = ApiError(404, "unknown_customer", "this customer has no payment profile")
UNKNOWN_PROFILE = ApiError(404, "unknown_payment_profile", "this payment profile has no history")
MAX_PAGE = 100
Reader = Annotated[Principal, Depends(requires("profiles:read", hidden=UNKNOWN_CUSTOMER))]


class PaymentProfiles(BaseModel):
    merchant_id: str
    customer_id: str
    profiles: list[StoredProfile]


class ProfileHistory(BaseModel):
    merchant_id: str
    customer_id: str
    payment_method_id: str
    changes: list[HistoryEntry] = Field(description="Newest first.")
    next: str | None = Field(description="The URL of the next (older) page, or null.")


def _changes(request: Request) -> CustomerChanges:
    return request.app.state.changes


def _service(request: Request) -> AutopayService:
    """The service the lifespan opened (it needs the pool, which exists only then)."""
    return request.app.state.service


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["payment profiles"])

    @routes.get(
        "/merchants/{merchant_id}/customers/{customer_id}/payment-profiles",
        responses={
            **AUTH_RESPONSES,
            400: {"description": "malformed id"},
            404: {"description": "unknown customer"},
        },
    )
    async def payment_profiles(
        merchant_id: IdentifierPath,
        customer_id: IdentifierPath,
        service: Annotated[AutopayService, Depends(_service)],
        _: Reader,
    ) -> PaymentProfiles:
        """The customer's payment profiles and how each auto-process flag was decided."""
        stored = await service.profiles_of(merchant_id, customer_id)
        if not stored:
            raise UNKNOWN_CUSTOMER
        return PaymentProfiles(
            merchant_id=merchant_id,
            customer_id=customer_id,
            profiles=stored,
        )

    @routes.get(
        "/merchants/{merchant_id}/customers/{customer_id}/payment-profiles/{payment_method_id}"
        "/history",
        responses={
            **AUTH_RESPONSES,
            400: {"description": "malformed id or query"},
            404: {"description": "unknown payment profile"},
        },
    )
    async def profile_history(
        merchant_id: IdentifierPath,
        customer_id: IdentifierPath,
        payment_method_id: IdentifierPath,
        request: Request,
        changes: Annotated[CustomerChanges, Depends(_changes)],
        _: Reader,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        # History ids are PostgreSQL bigints: a larger cursor is malformed, not a server error.
        before: Annotated[
            int | None, Query(ge=1, le=2**63 - 1, description="Changes older than this.")
        ] = None,
    ) -> ProfileHistory:
        """Every change of the payment profile, newest first, `limit` per page."""
        key = (merchant_id, customer_id, payment_method_id)
        entries = await changes.history(key, before=before, limit=limit)
        if not entries and before is None:
            raise UNKNOWN_PROFILE
        more = len(entries) == limit
        last = entries[-1].position if entries else 0
        return ProfileHistory(
            merchant_id=merchant_id,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            changes=entries,
            next=f"{request.url.path}?limit={limit}&before={last}" if more else None,
        )

    return routes


async def _malformed_id(_: Request, error: Exception) -> JSONResponse:
    """The only request input is the two ids in the path: 400, as the settings API answers."""
    assert isinstance(error, RequestValidationError)
    names = sorted({str(problem["loc"][-1]) for problem in error.errors()})
    return problem(400, f"invalid_{names[0]}", "ids are 1–64 of A-Z a-z 0-9 _ -")


def install_error_handlers(app: FastAPI) -> None:
    problems.install(app)
    app.add_exception_handler(RequestValidationError, _malformed_id)
