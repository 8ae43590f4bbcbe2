"""HTTP routes: read a customer's payment profiles."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel

from services.autopay.service import AutopayService

IdentifierPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class PaymentProfile(BaseModel):
    payment_method_id: str
    auto_process: bool
    decided_by: str
    settings_version: int
    caused_by: str
    box_ignored: bool
    settings_fallback: bool
    updated_at: datetime


class PaymentProfiles(BaseModel):
    merchant_id: str
    customer_id: str
    profiles: list[PaymentProfile]


def _service(request: Request) -> AutopayService:
    """The service the lifespan opened (it needs the pool, which exists only then)."""
    return request.app.state.service


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["payment profiles"])

    @routes.get("/merchants/{merchant_id}/customers/{customer_id}/payment-profiles")
    async def payment_profiles(
        merchant_id: IdentifierPath,
        customer_id: IdentifierPath,
        service: Annotated[AutopayService, Depends(_service)],
    ) -> PaymentProfiles:
        """The customer's payment profiles and how each auto-process flag was decided."""
        stored = await service.profiles_of(merchant_id, customer_id)
        if not stored:
            raise HTTPException(404, "unknown customer: no payment profile")
        return PaymentProfiles(
            merchant_id=merchant_id,
            customer_id=customer_id,
            profiles=[PaymentProfile.model_validate(p, from_attributes=True) for p in stored],
        )

    return routes
