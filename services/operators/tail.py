"""`events tail`: one readable line per record of a topic, invalid records included."""

from collections.abc import AsyncIterator

from services.common.config import Config
from services.common.contract import EVENT_TOPICS
from services.operators import dlq, reading
from services.operators.display import event_line

MODELS = {topic: model for model, topic in EVENT_TOPICS.items()}


async def tail(
    config: Config, topic: str, *, from_beginning: bool, limit: int | None
) -> AsyncIterator[str]:
    """Lines for the records of `topic` (a contract name), new ones as they come, up to `limit`."""
    model = MODELS.get(topic)  # None for the DLQ topics, whose records are of any type
    async with reading.assigned(config, config.topic(topic)) as consumer:
        if from_beginning:
            await consumer.seek_to_beginning()
        else:
            await consumer.seek_to_end()
        count = 0
        async for record in reading.follow(consumer):
            yield dlq.summary_line(record) if model is None else event_line(record, model)
            count += 1
            if count == limit:
                return
