"""The FastAPI side of authentication: one dependency per route, naming the scope it needs."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.auth import Authenticator, InvalidToken, Principal
from services.common.problems import ApiError

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT with `sub`, `merchant_id` and `scope` (see the README, Authentication).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def requires(
    scope: str, *, hidden: ApiError
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """A dependency giving the caller, once it may use `scope` on the merchant in the path.

    A token for another merchant gets `hidden`: the very answer for a merchant that does not
    exist, so a caller learns nothing about merchants that are not its own.
    """

    async def caller(request: Request, credentials: Credentials) -> Principal:
        if credentials is None:
            raise _unauthorized("missing_token", "send Authorization: Bearer <token>")
        authenticator: Authenticator = request.app.state.authenticator
        try:
            principal = await authenticator.principal(credentials.credentials)
        except InvalidToken as error:
            raise _unauthorized("invalid_token", str(error), error="invalid_token") from None
        merchant = request.path_params.get("merchant_id")
        if merchant is not None and not principal.may_act_for(merchant):
            raise hidden
        if scope not in principal.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                f"the token lacks the scope {scope}",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return principal

    return caller


def _unauthorized(reason: str, message: str, **challenge: str) -> ApiError:
    parameters = ", ".join(f'{name}="{value}"' for name, value in challenge.items())
    return ApiError(
        401,
        reason,
        message,
        headers={"WWW-Authenticate": f"Bearer {parameters}".strip()},
    )


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or one that is not valid (`WWW-Authenticate: Bearer`)."},
    403: {"description": "The token lacks the scope this operation needs."},
}
