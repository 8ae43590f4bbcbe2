"""/metrics moves with the events: consumed by outcome, decisions, HTTP requests, backlog, lag."""

from prometheus_client.parser import text_string_to_metric_families

from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC
from tests.integration.autopay.events import autopay_in_process, payment_method_added
from tests.support import eventually, producer, publish, publish_raw


async def samples(http) -> dict[tuple[str, frozenset], float]:
    response = await http.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_events_decisions_and_requests_move_the_counters(config):
    topic = config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    consumed = "portal_autopay_events_consumed_total"
    async with autopay_in_process(config) as http:
        before = await samples(http)
        events = [payment_method_added("m", f"c{n}", channel="payment_link") for n in range(5)]
        await publish(config, *events)
        await publish(config, events[0])  # delivered again: a duplicate
        async with producer(config) as client:
            await publish_raw(config, PAYMENT_METHOD_ADDED_TOPIC, b"not json", client=client)

        async def counted():
            found = await samples(http)
            moved = (
                value(found, consumed, topic=topic, outcome="processed", reason="") == 5
                and value(found, consumed, topic=topic, outcome="duplicate", reason="") == 1
                and value(
                    found, consumed, topic=topic, outcome="dead_lettered", reason="invalid_event"
                )
                == 1
            )
            return found if moved else None

        after = await eventually(counted, timeout=30)
        decisions = "portal_autopay_decisions_total"
        policy = {"decided_by": "merchant_policy", "auto_process": "false"}
        assert value(after, decisions, **policy) - value(before, decisions, **policy) == 5

        requests = "portal_autopay_http_requests_total"
        route = "/metrics"
        assert value(after, requests, route=route, method="GET", status="200") > value(
            before, requests, route=route, method="GET", status="200"
        )
        assert ("portal_autopay_outbox_backlog", frozenset({("outbox", "autopay")})) in after
        lag = [
            key
            for key in after
            if key[0] == "portal_autopay_consumer_lag" and ("topic", topic) in key[1]
        ]
        assert lag, "the lag of each assigned partition is exported"
        assert (await http.get("/readyz")).json()["checks"]["consumers progress"] == "ok"
