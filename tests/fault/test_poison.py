"""Poison records of every kind mixed into the stream."""

import pytest

from tests.fault.harness import System, running
from tests.fault.poison import mixed, poison_records

pytestmark = pytest.mark.slow


async def test_poison_records_are_dead_lettered_with_their_reason_and_the_rest_decided(
    fault_config, smtp_server, records
):
    system = System(fault_config)
    async with running(system, fault_config, smtp_server) as outcomes:
        streaming = system.stream(mixed(records, poison_records()))
        await outcomes.check(await streaming)
