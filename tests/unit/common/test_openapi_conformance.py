"""Schemathesis over both APIs' OpenAPI documents: every check, a bounded number of examples.

The apps run in-process over the in-memory settings store and a one-profile autopay reader,
with a platform token, so that generated merchant ids reach the routes.
"""

import contextlib

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from services.autopay import app as autopay_app
from services.autopay.customer_changes import CustomerChanges
from services.common.config import Config
from services.settings import app as settings_app
from services.settings.service import SettingsService
from tests.auth import SECRET, platform
from tests.unit.autopay.fakes_changes import FakeChangesStore
from tests.unit.common.test_authentication import OneProfile
from tests.unit.settings.fakes import FakeStore

CONFIG = Config(_env_file=None, auth_jwt_secret=SECRET)
TOKEN = platform()
EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@contextlib.asynccontextmanager
async def _no_servers(_):
    yield


def _settings_app():
    app = settings_app.create_app(CONFIG)
    app.router.lifespan_context = _no_servers  # schemathesis starts the app: no PostgreSQL here
    app.state.settings_service = SettingsService(FakeStore())
    return app


def _autopay_app():
    app = autopay_app.create_app(CONFIG)
    app.router.lifespan_context = _no_servers
    app.state.service = OneProfile()
    app.state.changes = CustomerChanges(FakeChangesStore(), _nowhere, wait=0)
    return app


async def _nowhere(_):
    """Publishes nothing: the API only reads."""


# A valid request may still meet state: If-Match naming a version that is no longer current.
CHECKS = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "412", "429"]
            }
        }
    }
)
settings_schema = schemathesis.openapi.from_asgi("/openapi.json", _settings_app(), config=CHECKS)
autopay_schema = schemathesis.openapi.from_asgi("/openapi.json", _autopay_app(), config=CHECKS)


@settings_schema.parametrize()
@EXAMPLES
def test_the_settings_api_behaves_as_its_openapi_document_says(case):
    case.call_and_validate(headers=TOKEN)


@autopay_schema.parametrize()
@EXAMPLES
def test_the_autopay_api_behaves_as_its_openapi_document_says(case):
    case.call_and_validate(headers=TOKEN)
