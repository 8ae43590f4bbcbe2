"""The notifier run as `portal-autopay run notifier`, fed through the broker from outside."""

from email import message_from_bytes, policy

from services.common.embedded import free_port
from tests.integration.notifier.helpers import choice_recorded, settings_changed, unique
from tests.integration.notifier.test_app import nothing_more
from tests.support import ServiceProcess, eventually, publish


async def test_without_an_smtp_url_each_email_is_written_as_an_eml_file(config):
    merchant = unique("m")
    await publish(
        config,
        settings_changed(merchant, ["compta@boutique.example"], locale="fr"),
        choice_recorded(merchant, auto_process=False, box_default_checked=True),
    )
    service = ServiceProcess("notifier", config, free_port()).start()
    try:
        await service.wait_ready()

        async def written():
            return list(config.mail_outbox_dir.glob("*.eml"))

        [path] = await eventually(written, timeout=20)
    finally:
        assert service.stop() == 0
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "compta@boutique.example"
    assert message["Subject"].startswith("AutoPay refusé : Ada Lovelace")
    assert "qui était cochée par défaut" in message.get_body(("plain",)).get_content()


async def test_a_notifier_killed_while_sending_sends_every_email_after_restart_and_no_other(
    config, smtp_server
):
    config = config.model_copy(update={"smtp_url": smtp_server.url})
    merchant = unique("m")
    choices = [choice_recorded(merchant) for _ in range(300)]
    await publish(config, settings_changed(merchant, ["a@x.example"]), *choices)
    port = free_port()
    service = ServiceProcess("notifier", config, port).start()
    try:
        await service.wait_ready()
        await eventually(lambda: _at_least(smtp_server, 1), timeout=20)
        service.kill()
        service = ServiceProcess("notifier", config, port).start()
        await service.wait_ready()
        await eventually(lambda: _distinct_ids(smtp_server, 300), timeout=30)
    finally:
        service.stop()
    references: dict[str, set[str]] = {}
    for message in smtp_server.received():
        text = message.get_body(("plain",)).get_content()
        reference = text.split("Reference: ")[1].split()[0]
        references.setdefault(message["Message-ID"], set()).add(reference)
    assert set().union(*references.values()) == {choice.id for choice in choices}
    # A crash between the SMTP answer and its commit may resend what the sender had claimed
    # (one batch at most), always with the Message-ID of the first copy.
    assert all(len(same) == 1 for same in references.values())
    assert len(smtp_server.received()) - len(choices) <= 200


async def test_a_notifier_stopped_while_sending_to_a_slow_server_sends_no_email_twice(
    config, smtp_server
):
    smtp_server.delay = 0.3
    config = config.model_copy(update={"smtp_url": smtp_server.url})
    merchant = unique("m")
    choices = [choice_recorded(merchant) for _ in range(20)]
    await publish(config, settings_changed(merchant, ["a@x.example"]), *choices)
    port = free_port()
    service = ServiceProcess("notifier", config, port).start()
    try:
        await service.wait_ready()
        await eventually(lambda: _at_least(smtp_server, 5), timeout=30)
        assert service.stop() == 0
        assert len(smtp_server.received()) < len(choices), "stopped after sending everything"
        service = ServiceProcess("notifier", config, port).start()
        await service.wait_ready()
        await eventually(lambda: _distinct_ids(smtp_server, len(choices)), timeout=30)
    finally:
        service.stop()
    await nothing_more(smtp_server, len(choices))
    ids = [message["Message-ID"] for message in smtp_server.received()]
    assert len(ids) == len(set(ids)) == len(choices)


async def _at_least(smtp_server, count: int) -> bool:
    return len(smtp_server.received()) >= count


async def _distinct_ids(smtp_server, count: int) -> bool:
    return len({message["Message-ID"] for message in smtp_server.received()}) == count
