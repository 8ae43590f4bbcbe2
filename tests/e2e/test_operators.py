"""The operators' commands (`events publish|tail`, `dlq list|show|replay`) as processes, over
the real broker, beside the autopay service run as a process."""

import asyncio
import json
import sys

from aiokafka import ConsumerRecord

from services.autopay.subscribers import payment_methods_group
from services.common.config import Config
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    AUTOPAY_DLQ_TOPIC,
    CHANGE_REQUESTED_TOPIC,
    PAYMENT_METHOD_ADDED_TOPIC,
    PAYMENT_METHOD_REMOVED_TOPIC,
    AutopayChangeRequested,
    PaymentMethod,
    PaymentMethodAdded,
    PaymentMethodRemoved,
)
from services.common.embedded import free_port
from services.common.envelope import decode, encode_binary
from services.common.kafka import DeadLetters
from tests.integration.autopay.events import (
    payment_method_added,
    processed_count,
    settings_changed,
)
from tests.support import (
    ServiceProcess,
    TopicReader,
    header,
    publish,
    publish_raw,
    service_environment,
)

MERCHANT = "shop-42"
FULL_CARD_NUMBER = "4242424242424242"


async def portal_autopay(config: Config, *args: str) -> tuple[int, str, str]:
    """Run `portal-autopay ARGS` with the test's configuration; its exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.cli", *args),
        env=service_environment(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, out.decode(), err.decode()


async def test_a_payment_method_published_by_an_operator_is_a_valid_event_that_autopay_decides(
    config,
):
    autopay = ServiceProcess("autopay", config, free_port()).start()
    try:
        await autopay.wait_ready()
        await publish(
            config,
            settings_changed(
                MERCHANT,
                1,
                allow_customer_autopay_changes=True,
                default_use_for_autopay_checked=True,
            ),
        )
        code, out, err = await portal_autopay(
            config,
            *("events", "publish", "payment-method-added", "--merchant", MERCHANT),
            *("--customer", "cus_ada", "--name", "Ada Lovelace", "--box", "false"),
            *("--settings-version", "1", "--payment-method", "pm_7", "--last4", "1815"),
        )
        assert code == 0, err
        async with TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices:
            [choice] = await choices.wait_for(1)
        async with TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as added:
            [record] = await added.wait_for(1)
    finally:
        autopay.stop()

    printed = dict(line.split(": ", 1) for line in out.splitlines())
    event = decode(record.headers, record.value, PaymentMethodAdded)
    assert printed["id"] == event.id
    assert printed["key"] == record.key.decode() == f"{MERCHANT}:cus_ada"
    topic = config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    assert printed["topic"] == f"{topic} (partition {record.partition}, offset {record.offset})"
    assert event.data == PaymentMethodAdded(
        merchant_id=MERCHANT,
        customer_id="cus_ada",
        customer_name="Ada Lovelace",
        payment_method=PaymentMethod(id="pm_7", type="card", brand="visa", last4="1815"),
        channel="customer_portal",
        use_for_autopay=False,
        portal_settings_version=1,
    )
    decided = json.loads(choice.value)
    assert decided["caused_by"] == event.id
    assert (decided["auto_process"], decided["decided_by"], decided["settings_version"]) == (
        False,
        "customer",
        1,
    )


async def test_an_operator_publishes_a_customers_change_and_a_removal_that_tail_shows(config):
    code, _, err = await portal_autopay(
        config,
        *("events", "publish", "change-requested", "--merchant", MERCHANT),
        *("--customer", "cus_ada", "--payment-method", "pm_7", "--auto-process", "false"),
        *("--settings-version", "2", "--requested-by", "ada@customer.example"),
    )
    assert code == 0, err
    code, _, err = await portal_autopay(
        config,
        *("events", "publish", "payment-method-removed", "--merchant", MERCHANT),
        *("--customer", "cus_ada", "--payment-method", "pm_7"),
    )
    assert code == 0, err

    async with TopicReader(config, CHANGE_REQUESTED_TOPIC) as requests:
        [request] = await requests.wait_for(1)
    async with TopicReader(config, PAYMENT_METHOD_REMOVED_TOPIC) as removals:
        [removal] = await removals.wait_for(1)
    assert request.key.decode() == removal.key.decode() == f"{MERCHANT}:cus_ada"
    assert decode(request.headers, request.value, AutopayChangeRequested).data == (
        AutopayChangeRequested(
            merchant_id=MERCHANT,
            customer_id="cus_ada",
            payment_method_id="pm_7",
            auto_process=False,
            portal_settings_version=2,
            requested_by="ada@customer.example",
        )
    )
    assert decode(removal.headers, removal.value, PaymentMethodRemoved).data.channel == (
        "customer_portal"
    )
    code, out, err = await portal_autopay(
        config, "events", "tail", CHANGE_REQUESTED_TOPIC, "--from-beginning", "--max", "1"
    )
    assert code == 0, err
    assert "AutopayChangeRequested" in out
    assert "payment_method_id=pm_7 auto_process=false" in out


async def test_tail_prints_one_line_per_event_and_invalid_records_with_their_reason(
    config, kafka_producer
):
    valid = payment_method_added(MERCHANT, "cus_ada", box=True, version=1)
    await publish(config, valid, client=kafka_producer)
    headers, value = encode_binary(payment_method_added(MERCHANT, "cus_bad"))
    not_utf8_source = [(n, b"\xff" if n == "ce_source" else v) for n, v in headers]
    for bad_value, bad_headers in [
        (b"{not json", headers),
        (value.replace(b'"4242"', f'"{FULL_CARD_NUMBER}"'.encode()), headers),
        (value, not_utf8_source),
    ]:
        await publish_raw(
            config,
            PAYMENT_METHOD_ADDED_TOPIC,
            bad_value,
            headers=bad_headers,
            key=f"{MERCHANT}:cus_bad",
            client=kafka_producer,
        )

    code, out, err = await portal_autopay(
        config, "events", "tail", PAYMENT_METHOD_ADDED_TOPIC, "--from-beginning", "--max", "4"
    )

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4, out
    [event_line] = [line for line in lines if "  PaymentMethodAdded  " in line]
    assert f"  id={valid.id}  key={MERCHANT}:cus_ada  merchant_id={MERCHANT}" in event_line
    assert "use_for_autopay=true portal_settings_version=1" in event_line
    reasons = sorted(
        line.split(f"  INVALID  key={MERCHANT}:cus_bad  ")[1]
        for line in lines[:4]
        if "INVALID" in line
    )
    assert [reason.split(":")[0] for reason in reasons] == [
        "payment_method.last4",
        "source",
        "value",
    ]
    assert FULL_CARD_NUMBER not in out


async def test_a_dead_letter_is_listed_shown_and_replayed_with_its_key_value_and_headers(
    config, kafka_producer
):
    decided = payment_method_added(MERCHANT, "cus_ada", box=True)
    headers, value = encode_binary(payment_method_added(MERCHANT, "cus_bad"))
    poison_headers = [*headers, ("traceparent", b"00-0af7651916cd43dd-b7ad6b7169203331-01")]
    poison_value = value.replace(b'"4242"', f'"{FULL_CARD_NUMBER}"'.encode())
    topic = config.topic(PAYMENT_METHOD_ADDED_TOPIC)
    group = payment_methods_group(config)
    autopay = ServiceProcess("autopay", config, free_port()).start()
    try:
        await autopay.wait_ready()
        async with (
            TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as inputs,
            TopicReader(config, AUTOPAY_CHOICE_RECORDED_TOPIC) as choices,
            TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
        ):
            await publish(config, decided, client=kafka_producer)
            await publish_raw(
                config,
                PAYMENT_METHOD_ADDED_TOPIC,
                poison_value,
                headers=poison_headers,
                key=f"{MERCHANT}:cus_bad",
                client=kafka_producer,
            )
            await choices.wait_for(1)
            [poison] = await dead.wait_for(1)
            originals = {header(record, "ce_id"): record for record in await inputs.wait_for(2)}
            # Autopay dead-letters an event it fails to process this way. This one was decided
            # after all: replaying it must change nothing.
            dead_letters = DeadLetters(kafka_producer, config.topic(AUTOPAY_DLQ_TOPIC), group)
            await dead_letters.send(originals[decided.id], "processing failed: a test says so")
            [_, decided_letter] = await dead.wait_for(2)

            listed = await portal_autopay(config, "dlq", "list", "autopay")
            shown = await portal_autopay(
                config, "dlq", "show", "autopay", "--offset", f"{poison.partition}:{poison.offset}"
            )
            missing = await portal_autopay(config, "dlq", "show", "autopay", "--offset", "0:999")
            one = f"{decided_letter.partition}:{decided_letter.offset}"
            replayed_one = await portal_autopay(config, "dlq", "replay", "autopay", "--offset", one)
            replayed_all = await portal_autopay(config, "dlq", "replay", "autopay", "--all")

            replays = (await inputs.wait_for(5))[2:]
            await dead.wait_for(3)  # the poison, refused again
            all_choices = await choices.settle()
    finally:
        autopay.stop()

    for code, _, err in (listed, shown, replayed_one, replayed_all):
        assert code == 0, err
    poison_origin = originals[header(poison, "ce_id")]
    assert listed[1].splitlines() == [
        f"{poison.partition}:{poison.offset}  from={topic}[{poison_origin.partition}]"
        f"@{poison_origin.offset}  group={group}  at={header(poison, 'dlq_failed_at')}  "
        f"error={header(poison, 'dlq_error')}",
        f"{one}  from={topic}[{originals[decided.id].partition}]@{originals[decided.id].offset}"
        f"  group={group}  at={header(decided_letter, 'dlq_failed_at')}  "
        "error=processing failed: a test says so",
        f"2 dead letter(s) in {AUTOPAY_DLQ_TOPIC}",
    ]
    assert "error=invalid event: payment_method.last4: " in listed[1]

    assert f"key: {MERCHANT}:cus_bad" in shown[1]
    assert "  traceparent: 00-0af7651916cd43dd-b7ad6b7169203331-01" in shown[1]
    assert f"  dlq_original_topic: {topic}" in shown[1]
    assert '"last4":"••••••••••••4242"' in shown[1]
    assert FULL_CARD_NUMBER not in shown[1]
    assert missing[0] == 1
    assert f"no record at 0:999 in {config.topic(AUTOPAY_DLQ_TOPIC)}" in missing[2]

    assert len(replayed_one[1].splitlines()) == 1
    assert len(replayed_all[1].splitlines()) == 2
    # The decided event alone, then both dead letters.
    expected = [originals[decided.id], poison_origin, originals[decided.id]]
    assert sorted(map(_as_sent, replays)) == sorted(map(_as_sent, expected))
    assert [json.loads(choice.value)["caused_by"] for choice in all_choices] == [decided.id]
    assert await processed_count(config) == 1


async def test_a_truncated_dead_letter_is_replayed_with_the_original_value(config, kafka_producer):
    headers, _ = encode_binary(payment_method_added(MERCHANT, "cus_huge"))
    # Just within the producer's limit (1 MiB) with its headers; not with the `dlq_*` ones.
    huge = b'{"merchant_id": "' + b"x" * 1_048_000 + b'"}'
    autopay = ServiceProcess("autopay", config, free_port()).start()
    try:
        await autopay.wait_ready()
        async with (
            TopicReader(config, PAYMENT_METHOD_ADDED_TOPIC) as inputs,
            TopicReader(config, AUTOPAY_DLQ_TOPIC) as dead,
        ):
            await publish_raw(
                config,
                PAYMENT_METHOD_ADDED_TOPIC,
                huge,
                headers=headers,
                key=f"{MERCHANT}:cus_huge",
                client=kafka_producer,
            )
            [truncated] = await dead.wait_for(1, timeout=30)
            code, out, err = await portal_autopay(config, "dlq", "replay", "autopay", "--all")
            [original, replayed] = await inputs.wait_for(2, timeout=30)
    finally:
        autopay.stop()

    assert header(truncated, "dlq_truncated") == "true"
    assert len(truncated.value) < 200
    assert code == 0, err
    destination = f"{replayed.topic}[{replayed.partition}]@{replayed.offset}"
    assert out == f"{truncated.partition}:{truncated.offset} → {destination}\n"
    assert _as_sent(replayed) == _as_sent(original)


def _as_sent(record: ConsumerRecord) -> tuple:
    """What a replay must keep of a record."""
    return (
        record.topic,
        record.partition,
        record.timestamp,
        record.key,
        record.value,
        list(record.headers),
    )
