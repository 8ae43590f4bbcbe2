import pytest


@pytest.fixture
def notifier_config(config, smtp_server):
    return config.model_copy(update={"smtp_url": smtp_server.url})
