"""Who may do what, on both APIs: bearer tokens, one merchant per token, scopes."""

import time
from datetime import UTC, datetime

import httpx
import jwt
import pytest

from services.autopay import app as autopay_app
from services.autopay.records import StoredProfile
from services.common.auth import MERCHANT_SCOPES, PLATFORM_SCOPE, AuthNotConfigured
from services.common.config import Config
from services.settings import app as settings_app
from services.settings.service import SettingsService
from tests.auth import SECRET, bearer, token
from tests.unit.settings.fakes import FakeStore

SETTINGS_URL = "/v1/merchants/{merchant}/portal-settings"
PROFILES_URL = "/v1/merchants/{merchant}/customers/{customer}/payment-profiles"
PATCH = {"notification": {"locale": "fr"}}


class OneProfile:
    """The autopay service's read side: customer c1 of merchant m1 has one profile."""

    async def profiles_of(self, merchant_id: str, customer_id: str) -> list[StoredProfile]:
        if (merchant_id, customer_id) != ("m1", "c1"):
            return []
        now = datetime.now(UTC)
        return [StoredProfile("pm_1", True, "customer", 1, "evt", False, False, now)]


def client_of(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def settings():
    app = settings_app.create_app(Config(_env_file=None, auth_jwt_secret=SECRET))
    app.state.settings_service = SettingsService(FakeStore())
    async with client_of(app) as client:
        yield client


@pytest.fixture
async def autopay():
    app = autopay_app.create_app(Config(_env_file=None, auth_jwt_secret=SECRET))
    app.state.service = OneProfile()
    async with client_of(app) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-jwt"},
        bearer("m1", secret="another-secret-of-at-least-32-chars"),
        bearer("m1", ttl=-60),
        {"Authorization": f"Bearer {jwt.encode({'sub': 'x', 'merchant_id': 'm1'}, SECRET)}"},
    ],
    ids=["none", "basic", "garbage", "wrong-secret", "expired", "no-scope-no-exp"],
)
async def test_no_token_or_a_bad_one_is_a_401_with_a_bearer_challenge(settings, autopay, headers):
    for client, url in (
        (settings, SETTINGS_URL.format(merchant="m1")),
        (autopay, PROFILES_URL.format(merchant="m1", customer="c1")),
    ):
        response = await client.get(url, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["reason"] in {"missing_token", "invalid_token"}


async def test_a_token_for_another_merchant_gets_the_404_of_a_merchant_that_does_not_exist(
    settings, autopay
):
    other = SETTINGS_URL.format(merchant="m2")
    for method, body in (("GET", None), ("PATCH", PATCH), ("PUT", None)):
        response = await settings.request(method, other, json=body, headers=bearer("m1"))
        assert response.status_code == 404
        assert response.json() == {"reason": "unknown_merchant", "message": "no such merchant"}
    versions = await settings.get(f"{other}/versions/1", headers=bearer("m1"))
    assert versions.status_code == 404 and versions.json()["reason"] == "unknown_merchant"

    theirs = await autopay.get(PROFILES_URL.format(merchant="m2", customer="c1"), headers=bearer())
    unknown = await autopay.get(PROFILES_URL.format(merchant="m1", customer="c9"), headers=bearer())
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    mine = await autopay.get(PROFILES_URL.format(merchant="m1", customer="c1"), headers=bearer())
    assert mine.status_code == 200


@pytest.mark.parametrize(
    ("scopes", "method", "allowed"),
    [
        (("settings:read",), "GET", True),
        (("settings:read",), "PATCH", False),
        (("settings:write",), "PATCH", True),
        (("settings:write",), "GET", False),
        (("profiles:read",), "GET", False),
    ],
)
async def test_each_settings_operation_needs_its_scope(settings, scopes, method, allowed):
    url = SETTINGS_URL.format(merchant="m1")
    response = await settings.request(
        method, url, json=PATCH if method == "PATCH" else None, headers=bearer(scopes=scopes)
    )
    assert response.status_code == (200 if allowed else 403), response.text
    if not allowed:
        assert response.json()["reason"] == "insufficient_scope"
        assert "insufficient_scope" in response.headers["www-authenticate"]


async def test_reading_profiles_needs_the_profiles_scope(autopay):
    url = PROFILES_URL.format(merchant="m1", customer="c1")
    denied = await autopay.get(url, headers=bearer(scopes=("settings:read", "settings:write")))
    assert (denied.status_code, denied.json()["reason"]) == (403, "insufficient_scope")


async def test_the_platform_scope_acts_for_any_merchant(settings, autopay):
    platform = bearer(None, scopes=(*MERCHANT_SCOPES, PLATFORM_SCOPE), subject="billing-svc")
    saved = await settings.patch(SETTINGS_URL.format(merchant="m7"), json=PATCH, headers=platform)
    assert saved.status_code == 200 and saved.json()["updated_by"] == "billing-svc"
    mine = PROFILES_URL.format(merchant="m1", customer="c1")
    profiles = await autopay.get(mine, headers=platform)
    assert profiles.status_code == 200


async def test_a_token_without_merchant_or_platform_scope_is_refused(settings):
    response = await settings.get(SETTINGS_URL.format(merchant="m1"), headers=bearer(None))
    assert response.status_code == 401


async def test_health_routes_need_no_token(settings, autopay):
    for client in (settings, autopay):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code != 401
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.parametrize("app", [settings_app, autopay_app])
def test_a_service_without_a_way_to_check_tokens_refuses_to_start_naming_the_variables(app):
    with pytest.raises(AuthNotConfigured) as refused:
        app.create_app(Config(_env_file=None))
    for name in ("AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWT_SECRET"):
        assert name in str(refused.value)


def test_a_tokens_lifetime_is_the_ttl_asked_for():
    claims = jwt.decode(token("m1", ttl=120), SECRET, algorithms=["HS256"])
    assert 115 <= claims["exp"] - time.time() <= 120
    assert claims["scope"].split() == list(MERCHANT_SCOPES)
