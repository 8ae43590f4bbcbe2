"""The database writes each profile's history, whoever writes the profile."""

from services.autopay.app import MIGRATIONS
from services.autopay.repository import SCHEMA
from services.common import db
from tests.integration.autopay.events import decide_directly as _decide
from tests.integration.autopay.events import history as _history
from tests.integration.autopay.events import payment_method_added
from tests.support import migrated_pool

*SHARED_MIGRATIONS, OWN_MIGRATIONS = MIGRATIONS


async def test_a_decision_writes_one_history_row(pool):
    event = payment_method_added("m", "c", "pm_1", box=True, version=1)
    await _decide(pool, event)
    [row] = await _history(pool)
    assert (row["payment_method_id"], row["auto_process"], row["decided_by"]) == (
        "pm_1",
        True,
        "customer",
    )
    assert (row["trigger"], row["settings_version"], row["removed"], row["caused_by"]) == (
        "payment_method_added",
        1,
        False,
        event.id,
    )


async def test_a_decision_that_changes_nothing_adds_no_history(pool):
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=True, version=1))
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=True, version=1))
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=False, version=1))
    assert [row["auto_process"] for row in await _history(pool)] == [True, False]


async def test_the_card_and_name_of_a_decided_payment_method_are_kept(pool):
    await _decide(pool, payment_method_added("m", "c", "pm_1", box=True, version=1))
    row = await pool.fetchrow("SELECT * FROM autopay.payment_profiles")
    assert (row["customer_name"], row["channel"]) == ("Ada Lovelace", "customer_portal")
    assert '"last4": "4242"' in row["payment_method"]


async def test_an_upgraded_database_keeps_the_details_its_profiles_had(database_url, tmp_path):
    before_0007 = [path for path in OWN_MIGRATIONS.glob("*.sql") if path.name < "0007"]
    for path in before_0007:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    async with migrated_pool(database_url, SCHEMA, *SHARED_MIGRATIONS, tmp_path) as pool:
        await pool.execute(
            """
            INSERT INTO autopay.payment_profiles (merchant_id, customer_id, payment_method_id,
                auto_process, decided_by, settings_version, caused_by)
            VALUES ('m', 'c', 'pm_1', true, 'customer', 1, 'e1');
            INSERT INTO autopay.payment_method_details VALUES
                ('m', 'c', 'pm_1', 'Ada', '{"id": "pm_1", "last4": "4242"}', 'customer_portal');
            """
        )
        assert await db.migrate(pool, SCHEMA, *MIGRATIONS) == ["0007_details_on_profiles.sql"]
        row = await pool.fetchrow("SELECT * FROM autopay.payment_profiles")
    assert (row["customer_name"], row["channel"]) == ("Ada", "customer_portal")
    assert '"last4": "4242"' in row["payment_method"]
