import uuid

from services.autopay.choices import CHOICE_ID_NAMESPACE, choice_id


def test_an_input_always_gets_the_same_choice_id_and_two_inputs_different_ones():
    assert choice_id("input-1") == choice_id("input-1")
    assert choice_id("input-1") != choice_id("input-2")
    assert uuid.UUID(choice_id("input-1")).version == 5


def test_a_choice_id_is_the_uuid5_of_the_input_id_in_the_choices_namespace():
    for caused_by in ("input-1", str(uuid.uuid4()), "é" * 100, ""):
        assert choice_id(caused_by) == str(uuid.uuid5(CHOICE_ID_NAMESPACE, caused_by))
