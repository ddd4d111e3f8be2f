"""A consumer's handled offsets, committed behind its handlers, many in one request.

Committing each record's offset before its partition's next record was handled put a
broker round trip between every two messages of a partition, and cost one OffsetCommit
request (and a write to `__consumer_offsets`) per message. Here a partition's task
records the offset it has handled and goes on; one committer at a time sends every
partition's latest, at most every `COMMIT_INTERVAL_S`, and nothing when nothing was
handled. Still at least once: an offset is recorded only after its handler, so a
consumer killed without stopping leaves up to an interval's messages to be handled
again, as it already left the message in flight; every handler takes a redelivery (a
request or tool result found claimed or done is dropped). Partitions that leave, in a
rebalance or at stop, have theirs committed first (`flush`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition

# How long a handled offset may wait for the request that commits it, with others.
COMMIT_INTERVAL_S = 0.2

Commit = Callable[[dict[TopicPartition, int]], Awaitable[None]]


class OffsetCommits:
    def __init__(self, commit: Commit, interval_s: float = COMMIT_INTERVAL_S) -> None:
        self._commit = commit  # commits one batch; logs (and swallows) what the broker refuses
        self._interval_s = interval_s
        self._handled: dict[TopicPartition, int] = {}  # the next offset to read, per partition
        self._now = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None  # running whenever `_handled` holds any

    def handled(self, tp: TopicPartition, next_offset: int) -> None:
        """The record before `next_offset` is handled: commit it with the next batch."""
        self._handled[tp] = next_offset
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_batches(), name=f"kafka:{tp.topic}:commit")

    async def flush(self) -> None:
        """Commit everything handled so far without waiting out the interval; returns once it is sent."""
        committer = self._committer
        if committer is None:
            return
        self._now.set()
        await asyncio.shield(committer)

    async def _commit_batches(self) -> None:
        try:
            while self._handled:
                if not self._now.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._now.wait(), self._interval_s)
                batch, self._handled = self._handled, {}
                await self._commit(batch)
        finally:
            self._committer = None
            self._now.clear()
