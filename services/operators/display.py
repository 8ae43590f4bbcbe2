"""Records as text for a terminal: one line per event, and bytes shown safely."""

import json
import re

from aiokafka import ConsumerRecord

from services.common.contract import (
    AutopayChangeRejected,
    AutopayChangeRequested,
    AutopayChoiceRecorded,
    ContractModel,
    PaymentMethod,
    PaymentMethodAdded,
    PaymentMethodRemoved,
    PortalSettingsChanged,
)
from services.common.envelope import InvalidEvent, decode

# 13 to 19 digits in a row could be a card number: only the last four are shown, as the
# services never show more (the record itself is left as it is).
_CARD_NUMBER = re.compile(r"(?<!\d)\d{9,15}(\d{4})(?!\d)")


def readable(raw: bytes | str | None) -> str:
    """Text safe to print: invalid UTF-8 and control characters escaped, card numbers masked."""
    if raw is None:
        return "null"
    text = raw.decode("utf-8", errors="backslashreplace") if isinstance(raw, bytes) else raw
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return _CARD_NUMBER.sub(lambda digits: "•" * (len(digits[0]) - 4) + digits[1], text)


def position(record: ConsumerRecord) -> str:
    """`partition:offset`, how the tools name a record."""
    return f"{record.partition}:{record.offset}"


def event_line(record: ConsumerRecord, model: type[ContractModel]) -> str:
    """The record's position, type, id, key and the data's main fields; or why it is invalid."""
    key = readable(record.key)
    try:
        event = decode(record.headers or (), record.value, model)
    except InvalidEvent as error:
        return f"{position(record)}  INVALID  key={key}  {readable(str(error))}"
    fields = " ".join(f"{name}={_value(value)}" for name, value in main_fields(event.data).items())
    return f"{position(record)}  {event.type}  id={readable(event.id)}  key={key}  {fields}"


def main_fields(data: ContractModel) -> dict[str, object]:
    """What an operator looks for first in each kind of event."""
    match data:
        case PortalSettingsChanged():
            return {
                "merchant_id": data.merchant_id,
                "version": data.version,
                **data.settings.model_dump(),
                "emails": len(data.notification.emails),
                "locale": data.notification.locale,
                "changed_by": data.changed_by,
            }
        case PaymentMethodAdded():
            return {
                "merchant_id": data.merchant_id,
                "customer_id": data.customer_id,
                "channel": data.channel,
                "use_for_autopay": data.use_for_autopay,
                "portal_settings_version": data.portal_settings_version,
                "payment_method": _payment_method(data.payment_method),
            }
        case AutopayChoiceRecorded():
            return {
                "merchant_id": data.merchant_id,
                "customer_id": data.customer_id,
                "auto_process": data.auto_process,
                "decided_by": data.decided_by,
                "box_default_checked": data.box_default_checked,
                "settings_version": data.settings_version,
                "caused_by": data.caused_by,
                "trigger": data.trigger,
            }
        case AutopayChangeRequested() | PaymentMethodRemoved() | AutopayChangeRejected():
            return data.model_dump()  # a few flat fields: all of them
    raise TypeError(f"no summary for {type(data).__name__}")


def _payment_method(method: PaymentMethod) -> str:
    return "/".join(part for part in (method.id, method.type, method.brand, method.last4) if part)


def _value(value: object) -> str:
    return readable(value) if isinstance(value, str) else json.dumps(value)
