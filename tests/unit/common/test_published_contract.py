"""`schemas/` is what other teams read: it must say what the code does."""

from pathlib import Path

import yaml

from services.common.contract import KEY_FIELDS, PaymentMethodAdded
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
        "AutopayChangeRequested.schema.json",
        "PaymentMethodRemoved.schema.json",
        "AutopayChangeRejected.schema.json",
        "asyncapi.yaml",
    }
    for topic in (
        "portal.settings.changed",
        "payments.payment_method.added",
        "autopay.choice.recorded",
        "portal.autopay.change_requested",
        "payments.payment_method.removed",
        "autopay.change.rejected",
        "autopay.dlq",
        "notifier.dlq",
    ):
        assert f"address: {topic}" in files["asyncapi.yaml"]


def test_the_asyncapi_keys_follow_the_key_the_records_are_sent_with(monkeypatch):
    monkeypatch.setitem(KEY_FIELDS, PaymentMethodAdded, ("customer_id",))
    assert "keyed by customer_id." in render()["asyncapi.yaml"]


def test_the_asyncapi_marks_what_the_services_publish_as_send_and_the_rest_as_receive():
    operations = yaml.safe_load(render()["asyncapi.yaml"])["operations"]
    actions = {name: operation["action"] for name, operation in operations.items()}
    assert actions == {
        "sendPortalSettingsChanged": "send",
        "onPaymentMethodAdded": "receive",
        "sendAutopayChoiceRecorded": "send",
        "onAutopayChangeRequested": "receive",
        "onPaymentMethodRemoved": "receive",
        "sendAutopayChangeRejected": "send",
    }


def test_the_drift_check_sees_a_change_of_record_key(monkeypatch):
    monkeypatch.setitem(KEY_FIELDS, PaymentMethodAdded, ("customer_id",))
    assert drifted(SCHEMAS) == ["asyncapi.yaml"]
