"""Renders the contract for other teams: one JSON Schema per event and an AsyncAPI document."""

import json
from pathlib import Path

import yaml

from services.common.contract import (
    AUTOPAY_DLQ_TOPIC,
    EVENT_TOPICS,
    KEY_FIELDS,
    NOTIFIER_DLQ_TOPIC,
    SPEC_VERSION,
    AutopayChangeRejected,
    AutopayChoiceRecorded,
    ContractModel,
    PortalSettingsChanged,
    event_type,
)
from services.common.fields import NO_CONTROL_CHARACTERS

# What the services publish (`send`); the rest they consume (`receive`).
PUBLISHED = {PortalSettingsChanged, AutopayChoiceRecorded, AutopayChangeRejected}
PAYLOAD_FORMAT = "application/schema+json;version=draft-2020-12"


def key_of(model: type[ContractModel]) -> str:
    """The record key as `record_key` computes it, e.g. "merchant_id:customer_id"."""
    return ":".join(KEY_FIELDS[model])


def _attribute(**extra: str) -> dict:
    """What the envelope accepts of an attribute (services/common/envelope.py); a new dict
    each time, or the YAML would tie them with anchors."""
    control = {"pattern": NO_CONTROL_CHARACTERS.characters}
    return {"type": "string", "minLength": 1, "maxLength": 400, "not": control, **extra}


CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary mode. Structured mode "
    "(content-type: application/cloudevents+json, the whole event as the value) is also accepted.",
    "properties": {
        "content-type": {"const": "application/json"},
        "ce_specversion": {"const": SPEC_VERSION},
        "ce_id": _attribute(description="Unique; consumers dedupe on it."),
        "ce_type": _attribute(),
        "ce_source": _attribute(),
        "ce_subject": _attribute(),
        "ce_time": {"type": "string", "format": "date-time"},
    },
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source"],
}

DLQ_HEADERS = {
    "type": "object",
    "description": "The original record's headers, plus where it came from and why it failed.",
    "properties": {
        name: {"type": "string"}
        for name in (
            "dlq_original_topic",
            "dlq_original_partition",
            "dlq_original_offset",
            "dlq_consumer_group",
            "dlq_error",
            "dlq_failed_at",
        )
    },
}


def json_schema(model: type[ContractModel]) -> dict:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{event_type(model)}.schema.json"
    return schema


def asyncapi() -> dict:
    channels, operations, messages = {}, {}, {}
    for model, topic in EVENT_TOPICS.items():
        name = event_type(model)
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": CE_HEADERS,
            "payload": {
                "schemaFormat": PAYLOAD_FORMAT,
                "schema": {"$ref": f"./{name}.schema.json"},
            },
            "bindings": {"kafka": {"key": {"type": "string", "description": key_of(model)}}},
        }
        channels[name] = {
            "address": topic,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        sent = model in PUBLISHED
        operations[f"{'send' if sent else 'on'}{name}"] = {
            "action": "send" if sent else "receive",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"Records of {topic}, keyed by {key_of(model)}.",
        }
    for topic in (AUTOPAY_DLQ_TOPIC, NOTIFIER_DLQ_TOPIC):
        channel = topic.replace(".", "_")
        channels[channel] = {
            "address": topic,
            "description": "Dead letters: the original record, unchanged, with dlq_* headers.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        }
    messages["DeadLetter"] = {"name": "DeadLetter", "headers": DLQ_HEADERS, "payload": {}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "portal-autopay events",
            "version": "1.0.0",
            "description": "Customer-portal AutoPay settings, decisions and notifications.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """File name → content of everything `schemas/` holds."""
    files = {
        f"{event_type(model)}.schema.json": json.dumps(json_schema(model), indent=2) + "\n"
        for model in EVENT_TOPICS
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True)
    return files


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render().items():
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written


def drifted(directory: Path) -> list[str]:
    """Names of the files in `directory` that are missing or differ from the models."""
    return [
        name
        for name, content in render().items()
        if not (directory / name).is_file() or (directory / name).read_text() != content
    ]
