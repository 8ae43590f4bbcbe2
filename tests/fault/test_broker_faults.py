"""A three-node Apache Kafka cluster losing a broker while the stream flows."""

import asyncio

import pytest

from tests.fault.conftest import on_three_nodes
from tests.fault.harness import System, running

pytestmark = pytest.mark.slow

# The node that leads every input partition (the first replica of each, see on_three_nodes).
LEADER = 2
PAUSE_SECONDS = 10


async def test_the_broker_leading_the_input_partitions_killed_mid_stream_then_restarted(
    three_nodes, fault_config, smtp_server, records
):
    config = await on_three_nodes(fault_config, three_nodes, LEADER)
    node = three_nodes.nodes[LEADER - 1]
    system = System(config)
    async with running(system, config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.decided(len(records) // 4)
        node.kill()
        # The two other nodes carry on: the stream advances while the leader is gone.
        await outcomes.decided(len(records) // 2, timeout=90)
        node.start()
        await asyncio.to_thread(three_nodes.wait_until_serving)
        await outcomes.check(await streaming)


async def test_the_broker_leading_the_input_partitions_paused_for_ten_seconds(
    three_nodes, fault_config, smtp_server, records
):
    config = await on_three_nodes(fault_config, three_nodes, LEADER)
    node = three_nodes.nodes[LEADER - 1]
    system = System(config)
    async with running(system, config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.decided(len(records) // 4)
        node.pause()
        try:
            await asyncio.sleep(PAUSE_SECONDS)  # the fault's duration
        finally:
            node.resume()
        await outcomes.check(await streaming)
