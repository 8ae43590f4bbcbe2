"""One producer streaming a scenario's records at a steady rate, noting where each one landed."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from services.common import kafka
from services.common.config import Config
from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC, record_key
from services.common.envelope import CloudEvent, Headers, encode_binary
from tests.fault.checker import Published

SLICE = 100


@dataclass(frozen=True)
class Record:
    """One record to send: a valid event (`event`), or poison (`poison` says what it is)."""

    key: bytes
    value: bytes
    headers: Headers
    event: CloudEvent | None = None
    poison: str | None = None


def valid(event: CloudEvent, extra_headers: Headers = ()) -> Record:
    headers, value = encode_binary(event)
    return Record(record_key(event.data).encode(), value, [*headers, *extra_headers], event)


class Stream:
    """Sends `records` to the payment-methods topic, `rate` records a second.

    The pace is what makes the faults land mid-stream; it is a schedule, not a wait for
    anything. `published` grows as the broker acknowledges the records.
    """

    def __init__(self, config: Config, records: Sequence[Record], *, rate: float = 1_000) -> None:
        self._config = config
        self._records = records
        self._rate = rate
        self.published = Published()

    async def run(self) -> Published:
        client = kafka.make_producer(self._config)
        await client.start()
        try:
            started = time.monotonic()
            for first in range(0, len(self._records), SLICE):
                await self._send(client, self._records[first : first + SLICE])
                due = started + (first + SLICE) / self._rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        finally:
            await client.stop()
        return self.published

    async def _send(self, client: AIOKafkaProducer, records: Sequence[Record]) -> None:
        topic = self._config.topic(PAYMENT_METHOD_ADDED_TOPIC)
        sent = [
            await client.send(topic, value=r.value, key=r.key, headers=list(r.headers))
            for r in records
        ]
        for record, metadata in zip(records, await asyncio.gather(*sent), strict=True):
            if record.event is not None:
                self.published.inputs.append(record.event)
            if record.poison is not None:
                self.published.poison[metadata.partition, metadata.offset] = record.poison
