"""Retention: choices and their emails are forgotten after DEDUPE_RETENTION_DAYS, not before."""

from services.notifier import app
from tests.integration.notifier.helpers import choice_recorded, settings_changed, unique
from tests.integration.notifier.test_app import nothing_more, running_notifier, wait_for_emails
from tests.support import eventually, migrated_pool, publish


async def test_choices_older_than_the_window_are_purged_and_a_replay_within_it_sends_nothing(
    notifier_config, smtp_server
):
    config = notifier_config
    merchant = unique("m")
    recent, old, old_and_pending = (choice_recorded(merchant) for _ in range(3))
    await publish(config, settings_changed(merchant, ["a@x.example"]), recent, old)
    async with migrated_pool(config.database_url, app.SCHEMA, *app.MIGRATIONS) as pool:
        async with running_notifier(config):
            await wait_for_emails(smtp_server, 2)
            await eventually(lambda: _all_sent(pool), timeout=10)
        await pool.execute(
            "UPDATE notifier.choices SET recorded_at = now() - interval '29 days'"
            " WHERE event_id = $1",
            recent.id,
        )
        await pool.execute(
            "UPDATE notifier.choices SET recorded_at = now() - interval '31 days'"
            " WHERE event_id = $1",
            old.id,
        )
        # An old choice whose email is still waiting to be sent is kept with it.
        await pool.execute(
            "INSERT INTO notifier.choices"
            " (event_id, merchant_id, outcome, settings_version, recipients_version, recorded_at)"
            " VALUES ($1, $2, 'enrolled', 1, 1, now() - interval '31 days')",
            old_and_pending.id,
            merchant,
        )
        await pool.execute(
            "INSERT INTO notifier.emails"
            " (event_id, recipient, template, locale, facts, next_attempt_at)"
            " VALUES ($1, 'a@x.example', 'enrolled', 'en', '{}', now() + interval '1 day')",
            old_and_pending.id,
        )

        # The same customer's choices share a partition: `marker` comes after the replay.
        marker = choice_recorded(merchant, customer_id=recent.data.customer_id)
        async with running_notifier(config):
            await eventually(lambda: _choice_ids(pool, {recent.id, old_and_pending.id}))
            await publish(config, recent, marker)
            await wait_for_emails(smtp_server, 3)
            received = await nothing_more(smtp_server, 3)

        assert await pool.fetchval("SELECT count(*) FROM notifier.emails") == 3
    assert sorted(_reference(message) for message in received) == sorted(
        [recent.id, old.id, marker.id]
    )


def _reference(message) -> str:
    return message.get_body(("plain",)).get_content().split("Reference: ")[1].split()[0]


async def _all_sent(pool) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE status <> 'sent'")


async def _choice_ids(pool, expected: set[str]) -> bool:
    rows = await pool.fetch("SELECT event_id FROM notifier.choices")
    return {row["event_id"] for row in rows} == expected
