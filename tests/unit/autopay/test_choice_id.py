import uuid

from services.autopay.service import choice_id


def test_an_input_always_gets_the_same_choice_id_and_two_inputs_different_ones():
    assert choice_id("input-1") == choice_id("input-1")
    assert choice_id("input-1") != choice_id("input-2")
    assert uuid.UUID(choice_id("input-1")).version == 5
