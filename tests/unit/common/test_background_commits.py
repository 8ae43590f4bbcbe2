"""Offset commits in the background: each batch's own offsets, in order, never raising."""

import asyncio

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from services.common.offsets import BackgroundCommits


class Consumer:
    """A consumer whose commits are recorded, and held while `hold` is clear."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.failures: list[Exception] = []
        self.assigned = {TopicPartition("t", partition) for partition in range(4)}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.hold.wait()
        if self.failures:
            raise self.failures.pop(0)
        if not offsets.keys() <= self.assigned:  # as aiokafka's commit
            raise IllegalStateError("partition not assigned")
        self.commits.append(offsets)


def records(partition: int, *offsets: int) -> list[ConsumerRecord]:
    return [
        ConsumerRecord("t", partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())
        for offset in offsets
    ]


async def test_a_batch_commits_its_own_offsets_per_partition():
    consumer, commits = Consumer(), BackgroundCommits()

    commits.add(consumer, records(0, 5, 6, 7) + records(1, 3))
    await commits.flush()

    assert consumer.commits == [{TopicPartition("t", 0): 8, TopicPartition("t", 1): 4}]


async def test_batches_handled_during_a_commit_go_together_in_the_next_one():
    consumer, commits = Consumer(), BackgroundCommits()
    consumer.hold.clear()

    commits.add(consumer, records(0, 1))
    await asyncio.sleep(0)  # the first commit is sent, and held
    commits.add(consumer, records(0, 2))
    commits.add(consumer, records(0, 3) + records(1, 9))
    consumer.hold.set()
    await commits.flush()

    assert consumer.commits == [
        {TopicPartition("t", 0): 2},
        {TopicPartition("t", 0): 4, TopicPartition("t", 1): 10},
    ]


@pytest.mark.parametrize(
    "failure",
    [CommitFailedError("rebalanced"), AssertionError("the client closed under the request")],
)
async def test_a_failed_commit_is_logged_not_raised_and_the_next_batch_commits(failure, caplog):
    consumer, commits = Consumer(), BackgroundCommits()
    consumer.failures = [failure]

    commits.add(consumer, records(0, 1))
    await commits.flush()
    commits.add(consumer, records(0, 2))
    await commits.flush()

    assert consumer.commits == [{TopicPartition("t", 0): 3}]
    assert "offset commit failed, its batches will be redelivered" in caplog.text


async def test_a_cancelled_flush_leaves_the_commit_to_finish():
    consumer, commits = Consumer(), BackgroundCommits()
    consumer.hold.clear()
    commits.add(consumer, records(0, 1))
    waiter = asyncio.create_task(commits.flush())
    await asyncio.sleep(0)

    waiter.cancel()
    consumer.hold.set()
    await commits.flush()

    assert consumer.commits == [{TopicPartition("t", 0): 2}]


async def test_a_partition_taken_away_is_left_out_and_the_others_still_commit():
    consumer, commits = Consumer(), BackgroundCommits()
    consumer.assigned.discard(TopicPartition("t", 1))  # a rebalance gave it to another member

    commits.add(consumer, records(0, 5) + records(1, 3))
    await commits.flush()

    assert consumer.commits == [{TopicPartition("t", 0): 6}]
