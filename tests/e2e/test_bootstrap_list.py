"""KAFKA_BOOTSTRAP_SERVERS may name several brokers, as the README's table says."""

import pytest

from services.common.embedded import free_port
from tests.support import ServiceProcess


@pytest.mark.parametrize("name", ["autopay", "notifier"])
async def test_a_consuming_service_starts_with_a_list_of_bootstrap_servers(config, name):
    # The same broker named twice: a list, whatever the machine has.
    servers = f"{config.kafka_bootstrap_servers},{config.kafka_bootstrap_servers}"
    config = config.model_copy(update={"kafka_bootstrap_servers": servers})
    service = ServiceProcess(name, config, free_port()).start()
    try:
        await service.wait_ready()
    finally:
        service.stop()
