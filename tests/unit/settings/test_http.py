"""The HTTP translation over an in-memory store: status codes, reasons, ETags, headers."""

import httpx
import pytest

from services.common.config import Config
from services.settings.app import create_app
from services.settings.service import SettingsService
from tests.auth import SECRET, bearer, platform
from tests.settings_documents import DOCUMENT, SETTINGS
from tests.unit.settings.fakes import FakeStore

URL = "/v1/merchants/m1/portal-settings"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


# Acts for any merchant, so that malformed merchant ids reach the validation.
PLATFORM_TOKEN = platform(subject="ada@merchant")


@pytest.fixture
async def client(store: FakeStore):
    # No lifespan: the routes get a service over the in-memory store instead of PostgreSQL.
    app = create_app(Config(_env_file=None, auth_jwt_secret=SECRET))
    app.state.settings_service = SettingsService(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://settings", headers=PLATFORM_TOKEN
    ) as client:
        yield client


async def test_get_of_a_merchant_that_never_saved_gives_the_defaults_as_version_0(client):
    response = await client.get(URL)
    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    body = response.json()
    assert body["version"] == 0
    assert not any(body["settings"].values())
    assert body["notification"] == {"emails": [], "locale": "en"}
    assert body["updated_at"] is None and body["updated_by"] is None


async def test_put_returns_the_new_document_with_its_etag_and_author(client):
    response = await client.put(URL, json=DOCUMENT)
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert (body["version"], body["updated_by"]) == (1, "ada@merchant")
    assert body["settings"] == SETTINGS
    assert body["updated_at"] is not None


async def test_a_change_is_made_by_the_subject_of_the_token_whatever_x_actor_says(client):
    response = await client.patch(
        URL,
        json={"notification": {"locale": "fr"}},
        headers={**bearer("m1", subject="bob@m1"), "X-Actor": "mallory"},
    )
    assert response.json()["updated_by"] == "bob@m1"


async def test_if_match_accepts_the_etag_as_given_and_refuses_a_stale_one(client):
    await client.put(URL, json=DOCUMENT)
    stale = await client.patch(
        URL,
        json={"settings": {"allow_customer_autopay_changes": False}},
        headers={"If-Match": '"0"'},
    )
    assert stale.status_code == 412
    assert stale.json()["reason"] == "version_mismatch"
    assert stale.json()["current_version"] == 1
    assert stale.headers["etag"] == '"1"'
    fresh = await client.patch(
        URL,
        json={"settings": {"allow_customer_autopay_changes": False}},
        headers={"If-Match": '"1"'},
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"2"'


async def test_a_save_that_changes_nothing_answers_the_current_version(client, store):
    await client.put(URL, json=DOCUMENT)
    again = await client.put(URL, json=DOCUMENT, headers={"If-Match": '"1"'})
    assert again.status_code == 200 and again.json()["version"] == 1
    assert len(store.outbox) == 1


@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "status", "reason"),
    [
        (
            "put",
            URL,
            {**DOCUMENT, "settings": {**SETTINGS, "allow_autopay": True}},
            {},
            422,
            "unknown_field",
        ),
        ("patch", URL, {"settings": {"allow_autopay": True}}, {}, 422, "unknown_field"),
        ("patch", URL, {"colour": "red"}, {}, 422, "unknown_field"),
        (
            "patch",
            URL,
            {"settings": {"allow_customer_autopay_changes": "true"}},
            {},
            422,
            "wrong_type",
        ),
        ("patch", URL, {"settings": {"allow_customer_autopay_changes": 1}}, {}, 422, "wrong_type"),
        (
            "patch",
            URL,
            {"settings": {"allow_customer_autopay_changes": None}},
            {},
            422,
            "null_value",
        ),
        ("patch", URL, {"notification": {"emails": ["not-an-address"]}}, {}, 422, "invalid_email"),
        (
            "patch",
            URL,
            {"notification": {"emails": ["a@x.io", "A@x.io"]}},
            {},
            422,
            "duplicate_email",
        ),
        (
            "patch",
            URL,
            {"notification": {"emails": [f"u{n}@x.io" for n in range(11)]}},
            {},
            422,
            "too_many_emails",
        ),
        ("patch", URL, {"notification": {"locale": "de"}}, {}, 422, "unsupported_locale"),
        (
            "put",
            URL,
            {**DOCUMENT, "notification": {"locale": "de", "emails": []}},
            {},
            422,
            "unsupported_locale",
        ),
        ("put", URL, {"settings": SETTINGS}, {}, 422, "missing_field"),
        (
            "put",
            URL,
            {**DOCUMENT, "notification": {"emails": ["bad"], "locale": "en"}},
            {},
            422,
            "invalid_email",
        ),
        (
            "put",
            "/v1/merchants/bad%20id!/portal-settings",
            DOCUMENT,
            {},
            400,
            "invalid_merchant_id",
        ),
        (
            "put",
            f"/v1/merchants/{'m' * 65}/portal-settings",
            DOCUMENT,
            {},
            400,
            "invalid_merchant_id",
        ),
        ("get", "/v1/merchants/bad.id/portal-settings", None, {}, 400, "invalid_merchant_id"),
        ("put", URL, DOCUMENT, {"If-Match": "version one"}, 400, "invalid_if_match"),
        ("get", f"{URL}/versions?limit=0", None, {}, 400, "invalid_query"),
        ("get", f"{URL}/versions?limit=many", None, {}, 400, "invalid_query"),
        ("get", f"{URL}/versions/first", None, {}, 400, "invalid_version"),
        ("get", f"{URL}/versions/99999999999", None, {}, 400, "invalid_version"),
        ("get", f"{URL}/versions?before=99999999999", None, {}, 400, "invalid_query"),
        ("get", f"{URL}/versions/1", None, {}, 404, "version_not_found"),
        ("get", f"{URL}/versions/0", None, {}, 404, "version_not_found"),
    ],
)
async def test_bad_input_gets_a_4xx_with_a_machine_readable_reason_and_stores_nothing(
    client, store, method, url, body, headers, status, reason
):
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == status, response.text
    problem = response.json()
    reasons = {problem["reason"]} | {item["reason"] for item in problem.get("errors", [])}
    assert reason in reasons, problem
    assert problem["message"]
    assert store.versions == {} and store.outbox == []


async def test_a_body_that_is_not_json_is_a_400(client, store):
    response = await client.put(
        URL, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "malformed_json"
    assert store.outbox == []


async def test_the_versions_page_links_to_the_next_older_page(client):
    for locale in ("fr", "en", "fr"):
        await client.patch(URL, json={"notification": {"locale": locale}})
    first = (await client.get(f"{URL}/versions", params={"limit": 2})).json()
    assert [v["version"] for v in first["versions"]] == [3, 2]
    second = (await client.get(first["next"])).json()
    assert [v["version"] for v in second["versions"]] == [1]
    assert second["next"] is None


async def test_one_version_is_served_with_its_etag(client):
    await client.put(URL, json=DOCUMENT)
    await client.patch(URL, json={"notification": {"locale": "en"}})
    response = await client.get(f"{URL}/versions/1")
    assert response.status_code == 200 and response.headers["etag"] == '"1"'
    assert response.json()["notification"]["locale"] == "fr"
    assert response.json()["updated_by"] == "ada@merchant"


async def test_the_openapi_document_describes_the_settings_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths[URL.replace("m1", "{merchant_id}")]) == {"get", "put", "patch"}
    assert (await client.get("/docs")).status_code == 200


async def test_if_match_star_or_a_bare_number_is_accepted(client):
    assert (await client.put(URL, json=DOCUMENT, headers={"If-Match": "*"})).status_code == 200
    patch = {"notification": {"locale": "en"}}
    assert (await client.patch(URL, json=patch, headers={"If-Match": "1"})).status_code == 200
    stale = await client.patch(URL, json={}, headers={"If-Match": "1"})
    assert stale.status_code == 412


async def test_an_unreachable_database_is_a_503_that_invites_a_retry(client, store):
    def unreachable():
        raise ConnectionRefusedError("injected: PostgreSQL is down")

    store.transaction = unreachable
    response = await client.put(URL, json=DOCUMENT)
    assert response.status_code == 503
    assert response.json()["reason"] == "unavailable"
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("address", ["josé@exämple.com", "josé@example.com", "jose@exämple.com"])
async def test_an_address_that_is_not_ascii_is_refused_with_a_reason_that_says_why(
    client, store, address
):
    response = await client.patch(URL, json={"notification": {"emails": [address]}})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "notification.emails.0",
            "reason": "invalid_email",
            "message": "not an address we can send to: ASCII only, like name@example.com "
            "(write an internationalised domain in its xn-- form)",
        }
    ]
    assert store.versions == {} and store.outbox == []


async def test_an_internationalised_domain_in_its_ascii_form_is_accepted(client):
    emails = ["jose@xn--exmple-cua.com"]
    response = await client.patch(URL, json={"notification": {"emails": emails}})
    assert response.status_code == 200
    assert response.json()["notification"]["emails"] == emails


async def test_a_token_naming_an_actor_with_a_control_character_is_refused_not_a_failed_save(
    client, store
):
    # The subject becomes the event's `changed_by`, where the contract refuses it.
    response = await client.put(URL, json=DOCUMENT, headers=bearer("m1", subject="ada\tlovelace"))
    assert response.status_code == 401
    assert response.json()["reason"] == "invalid_token"
    assert store.versions == {} and store.outbox == []
