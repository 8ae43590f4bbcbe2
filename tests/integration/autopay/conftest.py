import pytest

from services.autopay.app import MIGRATIONS
from services.autopay.repository import SCHEMA
from tests.support import migrated_pool


@pytest.fixture
async def pool(config):
    """A pool on the test's fresh database, with the autopay schema migrated."""
    async with migrated_pool(config.database_url, SCHEMA, *MIGRATIONS) as pool:
        yield pool
