"""Two autopay processes share the partitions; one joins and one crashes while events flow."""

import asyncio

from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC
from services.common.embedded import free_port
from tests.integration.autopay.events import (
    choices_by_cause,
    payment_method_added,
    processed_count,
    profiles,
)
from tests.support import ServiceProcess, TopicReader, producer, publish


async def test_instances_joining_and_crashing_mid_stream_decide_every_event_once(config):
    events = [payment_method_added("m", f"c{n}", box=True) for n in range(600)]
    first = ServiceProcess("autopay", config, free_port()).start()
    second = ServiceProcess("autopay", config, free_port())

    async def publish_steadily() -> None:
        async with producer(config) as client:
            for event in events:
                await publish(config, event, client=client)
                await asyncio.sleep(0.01)

    try:
        await first.wait_ready()
        async with TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices:
            publishing = asyncio.create_task(publish_steadily())
            await choices.wait_for(50)
            second.start()
            await second.wait_ready()
            await choices.wait_for(300, timeout=30)
            first.kill()
            await publishing
            await choices.wait_for(len(events), timeout=60)
            decided = choices_by_cause(await choices.settle())
    finally:
        first.kill()
        if second.process is not None:
            second.stop()

    # Half the events came after the first instance died: the second decided those.
    assert set(decided) == {event.id for event in events}
    assert len(await profiles(config)) == len(events)
    assert await processed_count(config) == len(events)
