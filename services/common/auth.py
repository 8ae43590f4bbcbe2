"""Who may do what: bearer JWTs naming a subject, one merchant and scopes.

Tokens come from the platform's identity provider (keys from `AUTH_JWKS_URL`, checked against
`AUTH_ISSUER` and `AUTH_AUDIENCE`) or are signed with a shared `AUTH_JWT_SECRET` (HS256, what
`portal-autopay tokens create` and `dev` use).
"""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import TypeAdapter, ValidationError

from services.common.config import Config
from services.common.fields import Actor

MERCHANT_SCOPES = ("settings:read", "settings:write", "profiles:read")
# Lifts the one-merchant restriction (platform services); the operation's scope is still needed.
PLATFORM_SCOPE = "platform"
ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
_ACTOR = TypeAdapter(Actor)


class AuthNotConfigured(Exception):
    """The service cannot check tokens: it must not start."""


class InvalidToken(Exception):
    """Missing, malformed, expired or wrongly signed: the caller is not authenticated."""


@dataclass(frozen=True)
class Principal:
    subject: str
    merchant_id: str | None
    scopes: frozenset[str]

    def may_act_for(self, merchant_id: str) -> bool:
        return PLATFORM_SCOPE in self.scopes or merchant_id == self.merchant_id


class Authenticator:
    """Verifies a token's signature, lifetime, issuer and audience, then reads its claims."""

    def __init__(self, config: Config) -> None:
        self._issuer, self._audience = config.auth_issuer, config.auth_audience
        self._jwks: jwt.PyJWKClient | None = None
        if config.auth_jwks_url:
            missing = [
                name
                for name, value in (
                    ("AUTH_ISSUER", self._issuer),
                    ("AUTH_AUDIENCE", self._audience),
                )
                if not value
            ]
            if missing:
                raise AuthNotConfigured(f"AUTH_JWKS_URL is set: also set {' and '.join(missing)}")
            self._jwks = jwt.PyJWKClient(config.auth_jwks_url, cache_keys=True, timeout=5)
        elif config.auth_jwt_secret is None:
            raise AuthNotConfigured(
                "no way to check API tokens: set AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE "
                "(the identity provider's keys) or AUTH_JWT_SECRET (HS256, at least 32 characters)"
            )
        else:
            self._secret = config.auth_jwt_secret.get_secret_value()

    async def principal(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                # The key set is fetched (then cached) with blocking I/O: off the event loop.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key, algorithms = signing.key, ASYMMETRIC_ALGORITHMS
            else:
                key, algorithms = self._secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub", "scope"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_why(error)) from None
        return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    subject, merchant, scope = claims["sub"], claims.get("merchant_id"), claims["scope"]
    try:
        # It becomes the event's `changed_by`: the contract's rule for it.
        _ACTOR.validate_python(subject)
    except ValidationError:
        raise InvalidToken("sub must be 1–200 characters, none of them control ones") from None
    if not isinstance(scope, str):
        raise InvalidToken("scope must be a space-separated string")
    scopes = frozenset(scope.split())
    if not isinstance(merchant, str) and PLATFORM_SCOPE not in scopes:
        raise InvalidToken("merchant_id is required without the platform scope")
    return Principal(subject, merchant if isinstance(merchant, str) else None, scopes)


def _why(error: jwt.PyJWTError) -> str:
    # PyJWT's messages name claims and rules, never the token's content.
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.PyJWKClientConnectionError):
        return "the identity provider's keys cannot be fetched"
    return f"the token is not valid: {error}"


def issue_token(
    secret: str,
    *,
    subject: str,
    merchant_id: str | None,
    scopes: Iterable[str] = MERCHANT_SCOPES,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token the services accept when configured with the same secret."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if merchant_id is not None:
        claims["merchant_id"] = merchant_id
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
