import pytest

from services.autopay.app import MIGRATIONS
from services.autopay.repository import SCHEMA
from services.common import db, outbox


@pytest.fixture
def config(config):
    """The shared test configuration, with groups that the embedded broker joins quickly."""
    return config.model_copy(update={"kafka_session_timeout_ms": 2000})


@pytest.fixture
async def pool(config):
    """A pool on the test's fresh database, with the autopay schema migrated."""
    pool = await db.create_pool(config.database_url, size=4)
    await db.migrate(pool, SCHEMA, outbox.MIGRATIONS, MIGRATIONS)
    yield pool
    await pool.close()
