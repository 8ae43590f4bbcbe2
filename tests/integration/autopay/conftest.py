import pytest


@pytest.fixture
def config(config):
    """The shared test configuration, with groups that the embedded broker joins quickly."""
    return config.model_copy(update={"kafka_session_timeout_ms": 2000})
