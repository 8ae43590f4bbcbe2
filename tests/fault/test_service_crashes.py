"""Service processes killed (`kill -9`) while the stream flows."""

import pytest

from tests.fault.harness import System, running

pytestmark = pytest.mark.slow


async def test_autopay_killed_mid_stream_and_restarted_loses_and_repeats_nothing(
    fault_config, smtp_server, records
):
    system = System(fault_config)
    async with running(system, fault_config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.decided(len(records) // 4)
        system.kill("autopay")
        await system.restart("autopay")
        await outcomes.check(await streaming)


async def test_notifier_killed_mid_stream_and_restarted_sends_every_email_once(
    fault_config, smtp_server, records
):
    system = System(fault_config)
    async with running(system, fault_config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.emailed(300)
        system.kill("notifier")
        await system.restart("notifier")
        # A crash between the SMTP server's answer and the database update resends what the
        # sender had in hand, with the same Message-ID.
        await outcomes.check(await streaming, email_repeats=True)


async def test_one_of_two_instances_of_autopay_and_of_the_notifier_killed_mid_stream(
    fault_config, smtp_server, records
):
    system = System(fault_config, autopay=2, notifier=2)
    async with running(system, fault_config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.decided(len(records) // 4)
        system.kill("autopay", 0)
        await outcomes.emailed(300)
        system.kill("notifier", 0)
        await outcomes.check(await streaming, email_repeats=True)
