"""Limits and errors of both APIs: sizes, shapes, methods, media types, canonical numbers."""

import json

import httpx
import pytest

from services.autopay import app as autopay_app
from services.common.config import Config
from services.settings import app as settings_app
from services.settings.service import SettingsService
from tests.auth import SECRET, platform
from tests.settings_documents import DOCUMENT
from tests.unit.common.test_authentication import OneProfile
from tests.unit.settings.fakes import FakeStore

URL = "/v1/merchants/m1/portal-settings"
PROFILES = "/v1/merchants/m1/customers/c1/payment-profiles"
CONFIG = Config(_env_file=None, auth_jwt_secret=SECRET)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def settings(store):
    app = settings_app.create_app(CONFIG)
    app.state.settings_service = SettingsService(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers=platform()) as c:
        yield c


@pytest.fixture
async def autopay():
    app = autopay_app.create_app(CONFIG)
    app.state.service = OneProfile()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://a", headers=platform()) as c:
        yield c


def problem_shape(response: httpx.Response) -> set[str]:
    return set(response.json())


async def test_a_body_over_64_kib_is_a_413_with_or_without_a_content_length(settings, store):
    big = json.dumps({**DOCUMENT, "padding": "x" * 70_000}).encode()
    declared = await settings.put(URL, content=big, headers={"content-type": "application/json"})

    async def chunks():
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    chunked = await settings.put(
        URL, content=chunks(), headers={"content-type": "application/json"}
    )
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json()["reason"] == "body_too_large"
    assert store.versions == {}


async def test_a_body_full_of_mistakes_gets_at_most_20_errors_quoting_no_value(settings):
    marker = "LEAKED-VALUE"
    body = {
        "settings": {f"unknown{n}": marker for n in range(500)},
        "notification": {"emails": [f"{marker}@@x"], "locale": marker},
    }
    response = await settings.put(URL, json=body)
    assert response.status_code == 422
    assert len(response.json()["errors"]) == 20
    assert "the first 20 of 506 problems" in response.json()["message"]
    assert marker not in response.text
    invalid = await settings.patch(URL, json={"notification": {"emails": [f"{marker}@@x"]}})
    assert marker not in invalid.text


@pytest.mark.parametrize(
    ("method", "url", "status", "reason"),
    [
        ("GET", "/v1/nothing-here", 404, "not_found"),
        ("DELETE", URL, 405, "method_not_allowed"),
        ("POST", "/healthz", 405, "method_not_allowed"),
    ],
)
async def test_unknown_routes_and_wrong_methods_answer_in_the_one_error_shape(
    settings, method, url, status, reason
):
    response = await settings.request(method, url)
    assert response.status_code == status
    assert response.json()["reason"] == reason and problem_shape(response) == {"reason", "message"}


async def test_a_wrong_method_names_every_method_the_resource_answers(settings, autopay):
    assert (await settings.delete(URL)).headers["allow"] == "GET, PUT, PATCH, HEAD"
    assert (await autopay.put(PROFILES, json={})).headers["allow"] == "GET, HEAD"


async def test_a_body_that_is_not_json_is_a_415_and_unparseable_json_a_400(settings, store):
    form = await settings.put(URL, content=b"a=b", headers={"content-type": "text/plain"})
    assert (form.status_code, form.json()["reason"]) == (415, "unsupported_media_type")
    broken = await settings.put(URL, content=b"{", headers={"content-type": "application/json"})
    assert (broken.status_code, broken.json()["reason"]) == (400, "malformed_json")
    assert problem_shape(broken) == {"reason", "message"}
    assert store.versions == {}


async def test_head_answers_wherever_get_does_without_a_body(settings, autopay):
    for client, url in ((settings, URL), (settings, "/healthz"), (autopay, PROFILES)):
        get, head = await client.get(url), await client.head(url)
        assert head.status_code == get.status_code == 200
        assert head.content == b"" and head.headers["content-length"] == str(len(get.content))


@pytest.mark.parametrize("spelling", ["1_0", "+1", "01", "1.0", "0x1"])
async def test_a_version_in_a_path_or_query_must_be_a_canonical_decimal(settings, spelling):
    one = await settings.get(f"{URL}/versions/{spelling}")
    assert (one.status_code, one.json()["reason"]) == (400, "invalid_version")
    page = await settings.get(f"{URL}/versions", params={"before": spelling})
    assert (page.status_code, page.json()["reason"]) == (400, "invalid_query")


async def test_an_unknown_query_parameter_is_a_400(settings):
    response = await settings.get(f"{URL}/versions", params={"limt": 5})
    assert (response.status_code, response.json()["reason"]) == (400, "invalid_query")


async def test_the_openapi_document_allows_no_null_in_a_patch(settings):
    document = (await settings.get("/openapi.json")).json()
    patch = document["paths"][URL.replace("m1", "{merchant_id}")]["patch"]
    schemas = json.dumps([patch, document["components"]["schemas"]["PatchBody"]])
    patch_schemas = [
        document["components"]["schemas"][name]
        for name in ("PatchBody", "SettingsPatch", "NotificationPatch")
    ]
    assert "null" not in json.dumps(patch_schemas) and '"null"' not in schemas
