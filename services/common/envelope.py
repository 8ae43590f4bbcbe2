"""CloudEvents 1.0 over Kafka: binary mode out, binary or structured mode in.

Binary mode (what we publish): the record value is the `data` object as JSON and the
attributes travel as `ce_*` headers. Structured mode (accepted from producers outside this
repo): the whole event is the JSON value, with `content-type: application/cloudevents+json`.
"""

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from services.common.contract import SPEC_VERSION, ContractModel, event_type

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
    time: datetime
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
        ("ce_time", _timestamp(event.time)),
    ]
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    return headers, event.data.model_dump_json().encode()


@functools.lru_cache(maxsize=64)
def _timestamp(time: datetime) -> bytes:
    """RFC 3339, cached: the events of a batch share their time."""
    return time.isoformat().replace("+00:00", "Z").encode()


NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=400)]


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
    """Parse a record as a CloudEvent whose data is a `model`; raise InvalidEvent otherwise."""
    header_map = {name.lower(): raw for name, raw in headers}
    content_type = _text(header_map.get("content-type", b"")).split(";")[0].strip().lower()
    try:
        if content_type == STRUCTURED_CONTENT_TYPE:
            event = _Structured[model].model_validate_json(value or b"")
            attributes, data = event, event.data
        else:
            # Lax mode: header values go in as bytes, and pydantic checks that they are UTF-8.
            attributes = _Attributes.model_validate(
                {
                    name.removeprefix("ce_"): raw
                    for name, raw in header_map.items()
                    if name.startswith("ce_")
                },
                strict=False,
            )
            data = model.model_validate_json(value or b"")
    except ValidationError as error:
        raise InvalidEvent(describe(error)) from None
    if attributes.specversion != SPEC_VERSION:
        raise InvalidEvent(f"specversion {attributes.specversion!r} is not {SPEC_VERSION}")
    if attributes.type != event_type(model):
        raise InvalidEvent(f"type {attributes.type!r} is not {event_type(model)}")
    return CloudEvent(
        id=attributes.id,
        type=attributes.type,
        source=attributes.source,
        subject=attributes.subject,
        time=attributes.time or datetime.now(UTC),
        data=data,
    )


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field and the rule, never the value."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "value"
        problems.append(f"{location}: {item['msg']}")
    return "; ".join(problems)


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def to_json(event: CloudEvent[ContractModel]) -> str:
    """The structured-mode form of an event (used by tools and tests)."""
    headers, value = encode_binary(event)
    attributes = {
        name.removeprefix("ce_"): raw.decode() for name, raw in headers if name.startswith("ce_")
    }
    return json.dumps(
        {**attributes, "datacontenttype": JSON_CONTENT_TYPE, "data": json.loads(value)}
    )
