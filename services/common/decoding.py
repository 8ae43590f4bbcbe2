"""FastStream's parser and decoder of ours: a batch of records in, typed CloudEvents out.

Neither one raises for a bad record: FastStream would fail the whole batch before the handler
runs, unacknowledged and never dead-lettered, while later batches commit past it. A record
that is not an event of the subscription's type (not JSON, not UTF-8 in a `ce_` header,
the wrong type, too large a field) comes out as invalid, with the reason, for the handler to
dead-letter.
"""

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic

from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage

from services.common.envelope import CloudEvent, D, InvalidEvent, decode


@dataclasses.dataclass(slots=True)
class DecodedBatch(Generic[D]):
    """A batch as the handler gets it: each valid record with its event, each invalid one
    with the reason."""

    events: list[tuple[ConsumerRecord, CloudEvent[D]]]
    invalid: list[tuple[ConsumerRecord, str]]


def decode_batch(records: Sequence[ConsumerRecord], model: type[D]) -> DecodedBatch[D]:
    batch: DecodedBatch[D] = DecodedBatch(events=[], invalid=[])
    for record in records:
        try:
            batch.events.append((record, decode(record.headers or (), record.value, model)))
        except InvalidEvent as error:
            batch.invalid.append((record, str(error)))
    return batch


def cloud_events_decoder(model: type[D]) -> Callable[[KafkaMessage], Awaitable[DecodedBatch[D]]]:
    """The subscription's decoder: its records as CloudEvents of `model`, in place of
    FastStream's JSON decoding of each value."""

    async def decode_records(message: KafkaMessage) -> DecodedBatch[D]:
        return decode_batch(message.raw_message, model)

    return decode_records


async def keep_header_bytes(
    records: tuple[ConsumerRecord, ...], parse_batch: Callable[..., Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream's batch parser, minus its decoding of every header value as UTF-8.

    One record with a header we never read that is not UTF-8 would fail the whole batch
    there, before our code runs. FastStream builds its message (the consumer to commit with,
    the batch's id from its first and last records) from header-less copies of the first and
    last records only: copying them all would cost more than the decoding. The decoder gets
    the records themselves, header bytes and all.
    """
    ends = (records[0], records[-1])  # never empty: FastStream skips empty polls
    message = await parse_batch(tuple(dataclasses.replace(r, headers=()) for r in ends))
    message.raw_message = records
    return message
