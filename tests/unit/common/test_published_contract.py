"""`schemas/` is what other teams read: it must say what the code does."""

from pathlib import Path

from services.common.schemas_export import drifted, render

SCHEMAS = Path(__file__).parents[3] / "schemas"


def test_the_published_schemas_match_the_models():
    assert drifted(SCHEMAS) == [], "run `make schemas` and commit schemas/"


def test_each_event_has_a_json_schema_and_the_asyncapi_names_every_topic():
    files = render()
    assert set(files) == {
        "PortalSettingsChanged.schema.json",
        "PaymentMethodAdded.schema.json",
        "AutopayChoiceRecorded.schema.json",
        "asyncapi.yaml",
    }
    for topic in (
        "portal.settings.changed",
        "payments.payment_method.added",
        "autopay.choice.recorded",
        "autopay.dlq",
        "notifier.dlq",
    ):
        assert f"address: {topic}" in files["asyncapi.yaml"]
