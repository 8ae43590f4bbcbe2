"""The database writes each profile's history, whoever writes the profile."""

from tests.integration.autopay.events import decide_directly as _decide
from tests.integration.autopay.events import history as _history
from tests.integration.autopay.events import payment_method_added


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
    row = await pool.fetchrow("SELECT * FROM autopay.payment_method_details")
    assert (row["customer_name"], row["channel"]) == ("Ada Lovelace", "customer_portal")
    assert '"last4": "4242"' in row["payment_method"]
