"""The parking rules: who waits, and who may leave."""

from services.common.parking import releasable, to_park

ANN, BOB = ("m", "ann"), ("m", "bob")


def test_to_park_reads_like_its_table():
    # (customer, waits for its version) in arrival order, customers parked before → parked?
    table = [
        ([(ANN, False)], set(), [False]),
        ([(ANN, True)], set(), [True]),
        ([(ANN, False)], {ANN}, [True]),  # behind the customer's parked event
        ([(ANN, True), (ANN, False), (BOB, False)], set(), [True, True, False]),
        ([(BOB, False), (ANN, True), (BOB, False)], set(), [False, True, False]),
    ]
    for events, parked, expected in table:
        assert to_park(events, parked) == expected, (events, parked)


def test_releasable_reads_like_its_table():
    # each parked event of one customer, in order, ready? → how many leave
    table = [
        ([], 0),
        ([True], 1),
        ([False], 0),
        ([True, True, False, True], 2),  # the third still waits: the fourth stays behind it
        ([False, True], 0),
    ]
    for ready, expected in table:
        assert releasable(ready) == expected, ready
