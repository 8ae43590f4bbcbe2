"""Session-wide real servers; per-test databases, topic prefixes and mail servers."""

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka import AIOKafkaProducer

from services.common import kafka
from services.common.config import Config
from services.common.kafka import create_topics
from tests.auth import SECRET
from tests.infrastructure import (
    fresh_database,
    idempotent_producers,
    kafka_description,
    kafka_server,
    postgres_server,
)
from tests.smtp import SmtpServer


def pytest_report_header() -> str:
    return f"kafka: {kafka_description()}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh database for one test, dropped afterwards."""
    async with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
async def config(kafka_bootstrap: str, database_url: str, tmp_path) -> Config:
    """Configuration of one test: its own database, topics and consumer groups."""
    config = Config(
        _env_file=None,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        kafka_topic_partitions=3,
        kafka_enable_idempotence=idempotent_producers(),
        # The least Apache Kafka accepts: a consumer a test stops is replaced quickly.
        kafka_session_timeout_ms=6000,
        database_url=database_url,
        database_pool_size=5,
        mail_outbox_dir=tmp_path / "mail",
        http_port=0,
        auth_jwt_secret=SECRET,
    )
    await create_topics(config)
    return config


@pytest.fixture
async def kafka_producer(config: Config) -> AsyncIterator[AIOKafkaProducer]:
    """A producer configured as the services' own (`kafka.make_producer`)."""
    client = kafka.make_producer(config)
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a loopback port, keeping what it receives."""
    with SmtpServer.running() as server:
        yield server
