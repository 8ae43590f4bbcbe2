"""The one back-off policy: growing, capped, jittered."""

from itertools import islice

from services.common.backoff import Backoff


def test_delays_double_from_the_first_up_to_the_longest_each_jittered_down_to_half():
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    delays = list(islice(Backoff(first=0.1, factor=2.0, longest=1.0).delays(), len(ceilings)))
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_delays_never_exceed_the_longest_however_long_the_outage():
    assert max(islice(Backoff(longest=5.0).delays(), 1000)) <= 5.0


def test_two_instances_retrying_together_draw_different_delays():
    first = list(islice(Backoff().delays(), 20))
    second = list(islice(Backoff().delays(), 20))
    assert first != second


def test_each_retry_loop_starts_again_from_the_first_delay():
    backoff = Backoff(first=0.1, longest=5.0)
    exhausted = backoff.delays()
    list(islice(exhausted, 50))
    assert next(backoff.delays()) <= 0.1
