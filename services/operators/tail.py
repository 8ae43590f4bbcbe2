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
    async with reading.assigned(config, config.topic(topic)) as consumer:
        if from_beginning:
            await consumer.seek_to_beginning()
        else:
            await consumer.seek_to_end()
        if limit == 0:
            return
        count = 0
        async for record in reading.follow(consumer):
            model = MODELS.get(topic)
            yield event_line(record, model) if model else dlq.summary_line(record)
            count += 1
            if count == limit:
                return
