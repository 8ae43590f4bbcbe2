"""The notifier wired to the real broker, PostgreSQL and SMTP server, run in this process."""

import contextlib
import json

from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    NOTIFIER_DLQ_TOPIC,
    SETTINGS_CHANGED_TOPIC,
)
from services.common.envelope import encode_binary
from services.notifier.app import create_app
from services.notifier.subscribers import groups
from tests.integration.notifier.helpers import choice_recorded, settings_changed, unique
from tests.support import TopicReader, eventually, header, producer, publish, publish_raw


@contextlib.asynccontextmanager
async def running_notifier(config, **options):
    app = create_app(config, **options)
    async with app.router.lifespan_context(app):
        yield


async def wait_for_emails(smtp_server, count: int) -> list:
    async def arrived():
        messages = smtp_server.received()
        return messages if len(messages) >= count else None

    return await eventually(arrived, timeout=30)


async def nothing_more(smtp_server, count: int) -> list:
    """The `count` emails, after showing no further one arrives during a quiet second."""
    with contextlib.suppress(AssertionError):
        await eventually(lambda: _more_than(smtp_server, count), timeout=1)
    return smtp_server.received()


async def _more_than(smtp_server, count: int) -> bool:
    return len(smtp_server.received()) > count


async def test_emails_from_the_broker_arrive_once_despite_redelivery_and_replay(
    notifier_config, smtp_server
):
    config = notifier_config
    english, french = unique("m"), unique("m")
    enrolled = choice_recorded(english, auto_process=True)
    declined = choice_recorded(french, auto_process=False, customer_name="Zoé Durand")
    policy = choice_recorded(english, decided_by="merchant_policy", box_default_checked=None)
    await publish(
        config,
        settings_changed(english, ["a@en.example", "b@en.example"]),
        settings_changed(french, ["compta@fr.example"], locale="fr"),
        enrolled,
        declined,
        policy,
        enrolled,  # redelivered: the same event id again
    )
    async with running_notifier(config):
        await wait_for_emails(smtp_server, 3)
        first_run = await nothing_more(smtp_server, 3)
    assert sorted((m["To"], m["Subject"].split(":")[0]) for m in first_run) == [
        ("a@en.example", "AutoPay on"),
        ("b@en.example", "AutoPay on"),
        ("compta@fr.example", "AutoPay refusé "),
    ]

    # Replay: new consumer groups read both topics again from the beginning. One marker per
    # partition, published after them, shows when the replay has gone through everything.
    replay_groups = (unique("replay-settings"), unique("replay-choices"))
    async with running_notifier(config, group_ids=replay_groups), producer(config) as client:
        for partition in range(config.kafka_topic_partitions):
            headers, value = encode_binary(choice_recorded(english, customer_name="Marker"))
            await client.send_and_wait(
                config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC),
                value=value,
                headers=headers,
                partition=partition,
            )
        await wait_for_emails(smtp_server, 3 + 2 * config.kafka_topic_partitions)
        everything = await nothing_more(smtp_server, 3 + 2 * config.kafka_topic_partitions)
    replayed = [m for m in everything if "Marker" not in m["Subject"]]
    assert len(replayed) == 3
    assert len({m["Message-ID"] for m in everything}) == len(everything)


async def test_a_broken_event_goes_to_the_dead_letter_topic_and_the_next_one_is_still_sent(
    notifier_config, smtp_server
):
    config = notifier_config
    merchant = unique("m")
    good = choice_recorded(merchant)
    headers, value = encode_binary(good)
    full_card = json.loads(value)
    full_card["payment_method"]["last4"] = "4242424242424242"
    key = f"{merchant}:{good.data.customer_id}"
    await publish(config, settings_changed(merchant, ["a@x.example"]))
    async with producer(config) as client:
        for broken in (b"not json", json.dumps(full_card).encode()):
            await publish_raw(
                config,
                AUTOPAY_CHOICE_RECORDED_TOPIC,
                broken,
                headers=headers,
                key=key,
                client=client,
            )
        await publish(config, good, client=client)

    async with running_notifier(config), TopicReader(config, NOTIFIER_DLQ_TOPIC) as reader:
        [email] = await wait_for_emails(smtp_server, 1)
        dead = await reader.wait_for(2)

    assert email["To"] == "a@x.example"
    assert good.id in email.get_body(("plain",)).get_content()
    assert dead[0].value == b"not json"
    errors = [header(record, "dlq_error") for record in dead]
    assert "payment_method.last4" in errors[1]
    assert "4242424242424242" not in errors[1]
    assert {header(record, "dlq_original_topic") for record in dead} == {
        config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC)
    }


async def test_each_subscription_dead_letters_name_its_group_and_keep_the_record_time(
    notifier_config,
):
    config = notifier_config
    long_ago = 1_600_000_000_000
    async with running_notifier(config), producer(config) as client:
        for topic in (SETTINGS_CHANGED_TOPIC, AUTOPAY_CHOICE_RECORDED_TOPIC):
            await client.send_and_wait(
                config.topic(topic), value=b"not json", key=b"m", timestamp_ms=long_ago
            )
        async with TopicReader(config, NOTIFIER_DLQ_TOPIC) as dead:
            dead_letters = await dead.wait_for(2)

    settings_group, choices_group = groups(config)
    assert {
        header(record, "dlq_original_topic"): header(record, "dlq_consumer_group")
        for record in dead_letters
    } == {
        config.topic(SETTINGS_CHANGED_TOPIC): settings_group,
        config.topic(AUTOPAY_CHOICE_RECORDED_TOPIC): choices_group,
    }
    assert [record.timestamp for record in dead_letters] == [long_ago, long_ago]
