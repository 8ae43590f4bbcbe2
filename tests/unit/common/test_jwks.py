"""Tokens of the platform's identity provider: RS256, keys from a JWKS URL served here."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.config import Config
from services.settings import app as settings_app
from services.settings.service import SettingsService
from tests.unit.settings.fakes import FakeStore

ISSUER = "https://id.platform.example"
AUDIENCE = "portal-autopay"
URL = "/v1/merchants/m1/portal-settings"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """A JWKS endpoint on a loopback port publishing KEY's public half as `k1`."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


@pytest.fixture
async def client(jwks_url: str):
    config = Config(
        _env_file=None, auth_jwks_url=jwks_url, auth_issuer=ISSUER, auth_audience=AUDIENCE
    )
    app = settings_app.create_app(config)
    app.state.settings_service = SettingsService(FakeStore())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://settings") as client:
        yield client


def signed(key=KEY, *, algorithm="RS256", kid="k1", **overrides) -> dict[str, str]:
    claims = {
        "sub": "ada@m1",
        "merchant_id": "m1",
        "scope": "settings:read settings:write",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
        **overrides,
    }
    token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_signed_by_the_identity_provider_is_accepted(client):
    response = await client.patch(URL, json={"notification": {"locale": "fr"}}, headers=signed())
    assert response.status_code == 200, response.text
    assert response.json()["updated_by"] == "ada@m1"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda: signed(aud="another-service"), id="wrong-audience"),
        pytest.param(lambda: signed(iss="https://evil.example"), id="wrong-issuer"),
        pytest.param(lambda: signed(exp=int(time.time()) - 10), id="expired"),
        pytest.param(
            lambda: signed(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="another-key",
        ),
        pytest.param(lambda: signed(kid="unknown"), id="unknown-key-id"),
        # The shared-secret path is off: a key set's public key is no HMAC secret.
        pytest.param(
            lambda: signed("a-shared-secret-of-at-least-32-chars!", algorithm="HS256"),
            id="hs256",
        ),
    ],
)
async def test_a_token_the_identity_provider_did_not_issue_for_us_is_a_401(client, headers):
    response = await client.get(URL, headers=headers())
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_set_without_issuer_and_audience_refuses_to_start(jwks_url):
    with pytest.raises(Exception, match="AUTH_ISSUER and AUTH_AUDIENCE"):
        settings_app.create_app(Config(_env_file=None, auth_jwks_url=jwks_url))
