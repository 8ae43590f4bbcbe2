"""Late events: an event older than the one behind the current state changes nothing."""

from datetime import UTC, datetime, timedelta

from services.autopay.domain import is_late, late_events

T = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
EARLIER, LATER = T - timedelta(seconds=1), T + timedelta(seconds=1)


def test_is_late_reads_like_its_table():
    # event time, time behind the current state → late?
    table = [
        (EARLIER, T, True),
        (T, T, False),  # a tie keeps arrival order
        (LATER, T, False),
        (None, T, False),  # no ce_time: arrival order
        (EARLIER, None, False),  # the current state has no time: arrival order
        (None, None, False),
    ]
    for event_time, current_time, late in table:
        assert is_late(event_time, current_time) is late, (event_time, current_time)


def test_an_event_with_no_stored_state_is_never_late():
    assert late_events([("pm", EARLIER)], {}) == [False]


def test_events_are_compared_with_the_stored_state_then_with_those_that_applied_before():
    events = [("pm", LATER), ("pm", T), ("other", EARLIER), ("pm", LATER)]
    assert late_events(events, {"pm": T}) == [False, True, False, False]


def test_a_late_event_does_not_move_the_time_behind_the_state():
    events = [("pm", EARLIER), ("pm", T)]
    assert late_events(events, {"pm": LATER}) == [True, True]


def test_an_event_without_a_time_lets_the_next_one_apply_whatever_its_time():
    events = [("pm", None), ("pm", EARLIER)]
    assert late_events(events, {"pm": LATER}) == [False, False]
