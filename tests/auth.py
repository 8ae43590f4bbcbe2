"""API tokens for the tests: one secret, and a helper giving the Authorization header."""

from services.common.auth import MERCHANT_SCOPES, PLATFORM_SCOPE, issue_token

SECRET = "tests-only-secret-0123456789abcdef"


def token(
    merchant: str | None = "m1",
    *,
    scopes: tuple[str, ...] = MERCHANT_SCOPES,
    subject: str = "tester",
    secret: str = SECRET,
    ttl: int = 3600,
) -> str:
    return issue_token(
        secret, subject=subject, merchant_id=merchant, scopes=scopes, ttl_seconds=ttl
    )


def bearer(merchant: str | None = "m1", **claims) -> dict[str, str]:
    """The Authorization header of a valid token for `merchant` (see `token`)."""
    return {"Authorization": f"Bearer {token(merchant, **claims)}"}


def platform(subject: str = "tester") -> dict[str, str]:
    """The Authorization header of a token acting for any merchant, with every scope."""
    return bearer(None, scopes=(*MERCHANT_SCOPES, PLATFORM_SCOPE), subject=subject)
