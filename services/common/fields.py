"""The contract's field types: each rule is one the exported JSON Schema states too.

The models and `schemas/` must judge every document alike (tested with a corpus), so no rule
here may be one JSON Schema cannot say.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic_core import PydanticCustomError, core_schema

# The error type of `Refuse`, whose message is the rule and never quotes the input.
FORBIDDEN_CHARACTER = "forbidden_character"


@dataclass(frozen=True, slots=True)
class Refuse:
    """Refuses a string holding any character of `characters` (a regex character class).

    Exported as `"not": {"pattern": characters}`: an unanchored search means the same in
    every regex dialect (ECMA-262, Python's `re`, Rust's), whereas `^…$` does not (Python's
    `$`, which the `jsonschema` package uses, also matches before a final newline).
    """

    characters: str
    rule: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        found, rule = re.compile(self.characters).search, self.rule

        def check(value: str) -> str:
            if found(value):
                # The rule, never the value: it may be a card number or a NUL byte.
                raise PydanticCustomError(FORBIDDEN_CHARACTER, rule)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return handler(schema) | {"not": {"pattern": self.characters}}


# C0, DEL and C1: NUL cannot be stored in jsonb, CR/LF would break a line of an email.
NO_CONTROL_CHARACTERS = Refuse(
    r"[\u0000-\u001f\u007f-\u009f]",
    "must not contain control characters (U+0000–U+001F, U+007F–U+009F)",
)


def text(max_length: int) -> Any:
    """Free text of 1 to `max_length` characters, without control characters."""
    return Annotated[
        str, StringConstraints(min_length=1, max_length=max_length), NO_CONTROL_CHARACTERS
    ]


def _whole(value: object) -> object:
    # JSON has one kind of number: 1.0 is the integer 1 for JSON Schema, and so for us.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Versions are stored in PostgreSQL `integer` (int4) columns.
INT4_MAX = 2**31 - 1
Version = Annotated[int, Field(ge=1, le=INT4_MAX), BeforeValidator(_whole)]
VersionOrDefaults = Annotated[int, Field(ge=0, le=INT4_MAX), BeforeValidator(_whole)]

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Refuse(r"[^A-Za-z0-9_-]", "must contain only A-Z a-z 0-9 _ -"),
]
# Exactly four digits: an event carrying a full card number is rejected, never stored.
Last4 = Annotated[
    str, StringConstraints(min_length=4, max_length=4), Refuse(r"[^0-9]", "must be digits")
]
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# ASCII only: an address we can hand to any SMTP server (no SMTPUTF8); an internationalised
# domain is written in its xn-- form.
EmailAddress = Annotated[
    str,
    StringConstraints(max_length=254, pattern=rf"^{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})+$"),
    Refuse(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]", "must be an ASCII email address"),
]
CustomerName = text(200)
Brand = text(40)
Actor = text(200)
# Any id the CloudEvents envelope accepts (services/common/envelope.py).
EventId = text(400)
