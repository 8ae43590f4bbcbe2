"""API tokens from the command line, and services that will not run without a way to check them."""

import subprocess
import sys

import httpx

from services.common.embedded import free_port
from tests.support import ServiceProcess, service_environment


def portal_autopay(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_api_service_without_token_settings_refuses_to_start_and_says_what_to_set(config):
    env = service_environment(config, HTTP_PORT=str(free_port()))
    env = {name: value for name, value in env.items() if not name.startswith("AUTH_")}
    for service in ("settings", "autopay"):
        refused = portal_autopay("run", service, env=env)
        assert refused.returncode != 0
        assert "cannot start" in refused.stderr
        for name in ("AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWT_SECRET"):
            assert name in refused.stderr
        assert "Traceback" not in refused.stderr


async def test_a_token_from_tokens_create_is_accepted_and_names_who_acted(config):
    env = service_environment(config)
    made = portal_autopay(
        *("tokens", "create", "--merchant", "shop-42", "--subject", "ada", "--ttl", "1h"), env=env
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    read_only = portal_autopay(
        *("tokens", "create", "--merchant", "shop-42", "--scope", "settings:read"), env=env
    ).stdout.strip()

    service = ServiceProcess("settings", config, free_port()).start()
    try:
        await service.wait_ready()
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            url = "/v1/merchants/shop-42/portal-settings"
            patch = {"notification": {"locale": "fr"}}
            ada = {"Authorization": f"Bearer {token}"}
            saved = await client.patch(url, json=patch, headers=ada)
            assert saved.status_code == 200 and saved.json()["updated_by"] == "ada"
            denied = await client.patch(
                url, json=patch, headers={"Authorization": f"Bearer {read_only}"}
            )
            assert denied.status_code == 403
    finally:
        service.stop()


def test_tokens_create_without_a_secret_says_which_variable_to_set(config):
    env = {
        name: value
        for name, value in service_environment(config).items()
        if not name.startswith("AUTH_")
    }
    refused = portal_autopay("tokens", "create", "--merchant", "m1", env=env)
    assert refused.returncode != 0 and "AUTH_JWT_SECRET" in refused.stderr
