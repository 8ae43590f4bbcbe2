"""A payment method names a settings version not yet projected: it waits, within a bound."""

from services.common.contract import AUTOPAY_CHOICE_RECORDED_TOPIC
from tests.integration.autopay.events import (
    autopay_in_process,
    choices_by_cause,
    payment_method_added,
    profiles,
    settings_changed,
)
from tests.support import TopicReader, publish


async def test_an_event_naming_an_unseen_version_waits_for_it_then_falls_back_past_the_bound(
    config,
):
    config = config.model_copy(update={"autopay_settings_wait_seconds": 4.0})
    allowed_unchecked = {"allow_customer_autopay_changes": True}
    allowed_checked = allowed_unchecked | {"default_use_for_autopay_checked": True}
    async with (
        autopay_in_process(config),
        TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader,
    ):
        warm_up = payment_method_added("m", "warm-up", version=0)
        await publish(config, settings_changed("m", 1, **allowed_unchecked), warm_up)
        await reader.wait_for(1)

        early = payment_method_added("m", "c1", version=2)
        await publish(config, early)
        assert len(await reader.settle(quiet=1.0)) == 1, "decided before version 2 arrived"
        await publish(config, settings_changed("m", 2, **allowed_checked))
        await reader.wait_for(2)

        never = payment_method_added("m", "c2", version=7)
        await publish(config, never)
        choices = choices_by_cause(await reader.wait_for(3))
        assert len(await reader.settle()) == 3

    assert (choices[early.id]["settings_version"], choices[early.id]["auto_process"]) == (2, True)
    assert choices[early.id]["box_default_checked"] is True
    assert (choices[never.id]["settings_version"], choices[never.id]["auto_process"]) == (2, True)
    stored = await profiles(config)
    assert stored[early.id]["settings_fallback"] is False
    assert stored[never.id]["settings_fallback"] is True
    assert stored[never.id]["settings_version"] == 2
