"""CloudEvents 1.0 over Kafka: binary mode out, binary or structured mode in.

Binary mode (what we publish): the record value is the `data` object as JSON and the
attributes travel as `ce_*` headers. Structured mode (accepted from producers outside this
repo): the whole event is the JSON value. As the CloudEvents SDK's Kafka binding does, a
record with any `ce_` header is binary, and one without is structured, whatever its
`content-type` (`application/cloudevents+json`, `application/json` or none).
"""

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticKnownError

from services.common.contract import SPEC_VERSION, ContractModel, event_type
from services.common.fields import FORBIDDEN_CHARACTER, text

D = TypeVar("D", bound=ContractModel)

Headers = list[tuple[str, bytes]]

JSON_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


class InvalidEvent(ValueError):
    """A record that is not a valid event of the expected type. It goes to a dead-letter topic.

    The message never quotes the offending values: a rejected full card number must not be
    copied into a log line or a dead-letter header.
    """


# Not frozen: two are built per event on the hot path, and a frozen dataclass takes four times
# as long to build. Treat it as immutable all the same.
@dataclass(slots=True)
class CloudEvent(Generic[D]):
    id: str
    type: str
    source: str
    subject: str | None
    # None when the producer sent no `ce_time`: rules that compare times then keep arrival order.
    time: datetime | None
    data: D


def new_event(data: D, *, source: str, subject: str | None = None) -> CloudEvent[D]:
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=event_type(type(data)),
        source=source,
        subject=subject,
        time=datetime.now(UTC),
        data=data,
    )


_CONTENT_TYPE_HEADER = ("content-type", JSON_CONTENT_TYPE.encode())
_SPEC_VERSION_HEADER = ("ce_specversion", SPEC_VERSION.encode())


def encode_binary(event: CloudEvent[ContractModel]) -> tuple[Headers, bytes]:
    """The headers and value of a binary-mode record."""
    headers: Headers = [
        _CONTENT_TYPE_HEADER,
        _SPEC_VERSION_HEADER,
        ("ce_id", event.id.encode()),
        ("ce_type", event.type.encode()),
        ("ce_source", event.source.encode()),
    ]
    if event.time is not None:
        headers.append(("ce_time", _timestamp(event.time)))
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    return headers, event.data.model_dump_json().encode()


@functools.lru_cache(maxsize=64)
def _timestamp(time: datetime) -> bytes:
    """RFC 3339, cached: the events of a batch share their time."""
    return time.isoformat().replace("+00:00", "Z").encode()


# The contract's rules for text: 1–400 characters, no control characters.
NonEmpty = text(400)


class _Attributes(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    specversion: NonEmpty
    id: NonEmpty
    type: NonEmpty
    source: NonEmpty
    subject: NonEmpty | None = None
    time: datetime | None = None


class _Structured(_Attributes, Generic[D]):
    data: D


def decode(headers: Headers | tuple, value: bytes | None, model: type[D]) -> CloudEvent[D]:
    """Parse a record as a CloudEvent whose data is a `model`; raise InvalidEvent otherwise.

    Header values are bytes: only the `ce_` ones are read (and must be UTF-8); any other
    header, whatever its bytes, plays no part.
    """
    attributes = {
        name.lower().removeprefix("ce_"): raw for name, raw in headers if name[:3].lower() == "ce_"
    }
    try:
        if attributes:
            # Lax mode: header values go in as bytes, and pydantic checks that they are UTF-8.
            event = _Attributes.model_validate(attributes, strict=False)
            data = model.model_validate_json(value or b"")
        else:
            event = _Structured[model].model_validate_json(value or b"")
            data = event.data
    except ValidationError as error:
        raise InvalidEvent(describe(error)) from None
    if event.specversion != SPEC_VERSION:
        raise InvalidEvent(f"specversion: must be {SPEC_VERSION}")
    if event.type != event_type(model):
        raise InvalidEvent(f"type: must be {event_type(model)}")
    return CloudEvent(
        id=event.id,
        type=event.type,
        source=event.source,
        subject=event.subject,
        time=event.time,
        data=data,
    )


# Error context that states a rule (a bound, a pattern, the values allowed), never the input;
# and JSON syntax errors, which give a position.
_RULE_CONTEXT = frozenset(
    {"pattern", "min_length", "max_length", "ge", "gt", "le", "lt", "expected", "class_name"}
)


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field and the rule, never the value.

    Built from each error's location and type only: pydantic's own messages may quote the
    input (a union tag, an email address), so they are rendered again from the rule's
    context alone.
    """
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "value"
        problems.append(f"{location}: {_rule(item)}")
    return "; ".join(problems)


def _rule(item: ErrorDetails) -> str:
    if item["type"] == FORBIDDEN_CHARACTER:
        return item["msg"]  # the contract's own rule, written without the input
    context = {
        name: value
        for name, value in item.get("ctx", {}).items()
        if name in _RULE_CONTEXT or (item["type"] == "json_invalid" and name == "error")
    }
    try:
        return PydanticKnownError(item["type"], context or None).message()
    except (KeyError, TypeError):  # a message that needs what we left out
        return f"invalid ({item['type']})"


def to_json(event: CloudEvent[ContractModel]) -> str:
    """The structured-mode form of an event (used by tools and tests)."""
    headers, value = encode_binary(event)
    attributes = {
        name.removeprefix("ce_"): raw.decode() for name, raw in headers if name.startswith("ce_")
    }
    return json.dumps(
        {**attributes, "datacontenttype": JSON_CONTENT_TYPE, "data": json.loads(value)}
    )
