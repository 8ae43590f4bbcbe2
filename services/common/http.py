"""HTTP pieces every service has: liveness and readiness."""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.common.logs import describe_failure

Check = Callable[[], Awaitable[None]]


def health_router(checks: dict[str, Check]) -> APIRouter:
    """`/healthz`: the process answers. `/readyz`: 200 only when every dependency answers."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = await asyncio.gather(*(_run(check) for check in checks.values()))
        report = dict(zip(checks, results, strict=True))
        ready = all(result == "ok" for result in results)
        return JSONResponse({"ready": ready, "checks": report}, status_code=200 if ready else 503)

    return router


async def _run(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), timeout=3)
    except Exception as error:
        # Kinds and places, never a message that could quote a connection string.
        return f"failed: {describe_failure(error)}"
    return "ok"
