"""One Kafka consumer per subscription, its assigned partitions handled side by side.

FastStream's concurrent mode with manual commits (`max_workers`) opens one consumer per
worker, all in the group: a 12-partition topic read with 32 workers meant 32 members
joining every rebalance, 20 of them idle, and a burst of log lines each time. Here one
`AIOKafkaConsumer` per process and topic fetches for every partition it is assigned, and
each partition has a task of its own that handles its records in order and hands each
offset, once handled, to be committed behind it (`kafka_offsets.py`; at least once). Up
to `concurrency` partitions' handlers run at once. A partition whose records pile up is
left out of the next fetches, so its backlog stays in Kafka. When a rebalance takes
partitions away, their handlers in flight finish and the offsets handled are committed
before the partitions go; what was fetched but not started is left to the new owner.
A handler held by an outage (`delivery.py` retries it until the outage
ends) is given `DRAIN_TIMEOUT_S` like any other, then cancelled: its message is not
committed, so whoever owns the partition next is given it again.

Without a group (`group=None`) the consumer is assigned every partition, reads from the
topic's start and commits nothing: every process hears every message and leaves no
group behind (the gateway following `rag.status`).

A consumer dead of an error inside the client (`kafka_client_deaths.py`) is found by the
next fetch that fails, counted (`bus_client_faults_total`), logged with what it died of and
replaced: the handlers in flight finish, what they handled is committed where the old
consumer still can (a commit it can no longer make is given up at once), the old one is
closed and made to leave the group (`kafka_rejoin.evict`: at once, or as soon as a broker
away comes back), and a new one joins and goes on from the committed offsets (at least
once, as after any rebalance). Nothing the fetch loop meets ends it: what it does not
expect is taken for such a death.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from agent_common.bus.kafka_client_deaths import close_dead, consumer_failure, group_member, unless_dead
from agent_common.bus.kafka_offsets import OffsetCommits
from agent_common.bus.kafka_rejoin import evict, wait_for_previous_member
from agent_common.bus.metrics import CLIENT_FAULTS

log = logging.getLogger("agent.bus")

# Records fetched but not yet handled, per partition, beyond which the partition is not fetched.
MAX_QUEUED = 100
# How long stopping (or losing a partition in a rebalance) waits for a handler in flight.
DRAIN_TIMEOUT_S = 15.0
# aiokafka's heartbeat interval (its default, written down because the session timeout is derived from it).
HEARTBEAT_INTERVAL_MS = 3000
# How often aiokafka's fetch routine looks at its partitions with nothing to wake it (its
# `consumer_timeout_ms`, 200 by default): a fetch's answer, a rebalance and records consumed
# wake it at once, so this is a backstop; five looks a second were 0.6 ms of CPU a second
# in each idle consumer.
FETCH_ROUTINE_TIMEOUT_MS = 1000
# How long one fetch call waits for records before the loop looks at the partitions again.
POLL_TIMEOUT_MS = 1000
BACKLOG_POLL_TIMEOUT_MS = 100
# Waits between replacing a dead consumer and starting another, doubling while each new one
# dies or cannot start (an error that kills every consumer at once is not retried in a loop).
REPLACE_BACKOFF_S = (0.5, 30.0)

RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]


def session_timeout_ms(ride_through_s: float, fetch_max_wait_ms: int) -> int:
    """How long the group keeps a member it does not hear from: longer than any gap in heartbeats
    an outage under the ride-through bound can cause, so such an outage never costs a member its
    partitions (a rebalance would hand its fetched and unfinished messages to be handled again, late).

    The gap is the wait for the next heartbeat, the outage, then the client's recovery: after a
    reconnect its coordinator lookup and its metadata request each queue behind a long-poll fetch
    on the same connection (a broker answers one connection's requests in order), up to
    `fetch_max_wait_ms` each. Measured on a broker behind a fault proxy, with a 5 s long poll:
    1.6-7.1 s from the end of a cut to the coordinator found again; 10 s (aiokafka's default)
    lost the member in 1 of 4 cuts of 4.5 s. Kafka's Java client defaults to 45 s. The cost: a
    consumer killed without leaving (SIGKILL) keeps its partitions that long; one that stops
    cleanly leaves the group at once.
    """
    recovery_ms = 2 * fetch_max_wait_ms + 2000
    return max(10_000, HEARTBEAT_INTERVAL_MS + int(ride_through_s * 1000) + recovery_ms)


class _Partition:
    """One assigned partition: its fetched records and the task working through them in order."""

    def __init__(self, tp: TopicPartition, work: Callable[[_Partition], Coroutine[Any, Any, None]]) -> None:
        self.tp = tp
        self.queue: asyncio.Queue[ConsumerRecord[bytes, bytes] | None] = asyncio.Queue()
        self.task = asyncio.create_task(work(self), name=f"kafka:{tp.topic}:{tp.partition}")

    async def drain(self) -> None:
        """Drop what has not started, let the record in flight finish, then end."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.task), DRAIN_TIMEOUT_S)
        except TimeoutError:
            log.warning("handler still running after the drain timeout; cancelled", extra={"partition": str(self.tp)})
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class PartitionedConsumer(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        handle: RecordHandler,
        *,
        group: str | None,
        client_id: str,
        concurrency: int,
        fetch_max_wait_ms: int,
        session_timeout_ms: int = 10_000,
        named: bool = False,
    ) -> None:
        """`named`: `client_id` names this replica (`kafka_rejoin.py`): its previous member, left in
        the group by a crash, is waited for before joining."""
        self.topic = topic
        self._named = named and group is not None
        self.group = group
        self._handle = handle
        self._slots = asyncio.Semaphore(concurrency)
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._fetching: asyncio.Task[None] | None = None
        self._offsets = OffsetCommits(self._commit)
        rebalance_timeout_ms = max(session_timeout_ms, int((DRAIN_TIMEOUT_S + 5) * 1000))
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": group,
            "client_id": client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            "consumer_timeout_ms": FETCH_ROUTINE_TIMEOUT_MS,
            "session_timeout_ms": session_timeout_ms,
            # A rebalance waits this long for members to rejoin; ours drain their handlers first.
            "rebalance_timeout_ms": rebalance_timeout_ms,
            # The broker holds a JoinGroup up to the rebalance timeout: the request must outlast it.
            "request_timeout_ms": max(40_000, rebalance_timeout_ms + 5000),
        }
        self._consumer: AIOKafkaConsumer | None = None
        self._replaced_at = -math.inf  # when a dead consumer was last replaced
        self._backoff_s = REPLACE_BACKOFF_S[0]

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the consumer has not started")
        return self._consumer

    def live(self) -> list[AIOKafkaConsumer]:
        """The aiokafka consumer once started (for the lag gauge), else none."""
        return [self._consumer] if self._consumer is not None else []

    async def start(self) -> None:
        await self._join()
        self._fetching = asyncio.create_task(self._fetch(), name=f"kafka:{self.topic}:fetch")

    async def _join(self) -> None:
        if self._named:
            options = self._options
            bootstrap, group, client_id = options["bootstrap_servers"], options["group_id"], options["client_id"]
            await wait_for_previous_member(bootstrap, group, client_id, options["session_timeout_ms"] / 1000)
        # Built here, not in __init__: aiokafka wants a running event loop, and services subscribe before theirs starts.
        self._consumer = AIOKafkaConsumer(**self._options)
        self.consumer.subscribe([self.topic], listener=self)
        await self.consumer.start()

    async def stop(self) -> None:
        """Stop fetching, let the handlers in flight finish, commit what was handled, then leave the group."""
        if self._fetching is not None:
            self._fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetching
            self._fetching = None
        await self._drain(list(self._partitions))
        if self._consumer is not None and consumer_failure(self._consumer) is not None:
            await close_dead(self._consumer)  # dead and not yet replaced
        elif self._consumer is not None:
            await self._consumer.stop()

    # ConsumerRebalanceListener: aiokafka awaits these during a rebalance.
    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._drain([tp for tp in revoked if tp in self._partitions])

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Nothing to do: each partition starts from its group's committed offset."""

    async def _drain(self, partitions: list[TopicPartition]) -> None:
        gone = [self._partitions.pop(tp) for tp in partitions]
        await asyncio.gather(*(partition.drain() for partition in gone))
        await self._offsets.flush()

    async def _fetch(self) -> None:
        while True:
            try:
                await self._fetch_once()
            except Exception as exc:  # the client's death, or anything else this loop does not expect
                await self._replace(consumer_failure(self.consumer) or exc)

    async def _fetch_once(self) -> None:
        """Fetch the open partitions' records once and queue them for their partitions' tasks."""
        assigned = self.consumer.assignment()
        open_ = [tp for tp in assigned if self._queued(tp) < MAX_QUEUED]
        if not open_:
            await asyncio.sleep(BACKLOG_POLL_TIMEOUT_MS / 1000)
            return
        timeout = POLL_TIMEOUT_MS if len(open_) == len(assigned) else BACKLOG_POLL_TIMEOUT_MS
        try:
            batch = await self.consumer.getmany(*open_, timeout_ms=timeout)
        except KafkaError as exc:
            if consumer_failure(self.consumer) is not None:
                raise
            # A rebalance or a broker away: the next round asks again.
            log.info("fetch failed; retrying", extra={"topic": self.topic, "error": repr(exc)})
            await asyncio.sleep(BACKLOG_POLL_TIMEOUT_MS / 1000)
            return
        # A dead fetcher raises nothing: its consumer hands over nothing, at every poll's end.
        if not batch and (failure := consumer_failure(self.consumer)) is not None:
            raise failure
        for tp, records in batch.items():
            if tp not in self.consumer.assignment():
                continue  # revoked meanwhile: its new owner reads them from the committed offset
            partition = self._partitions.get(tp) or self._partitions.setdefault(tp, _Partition(tp, self._work))
            for record in records:
                partition.queue.put_nowait(record)

    def _queued(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return partition.queue.qsize() if partition else 0

    async def _work(self, partition: _Partition) -> None:
        while (record := await partition.queue.get()) is not None:
            async with self._slots:
                try:
                    await self._handle(record)
                except Exception:  # `deliver` parks what fails; this is a bug in the path itself
                    log.exception("record not handled", extra={"topic": self.topic, "offset": record.offset})
            if self.group is not None:
                self._offsets.handled(partition.tp, record.offset + 1)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assigned = self.consumer.assignment()
        # A partition gone meanwhile had its offsets flushed as it went; its new owner commits from here.
        mine = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not mine:
            return
        try:
            await unless_dead(self.consumer, self.consumer.commit(mine))
        except Exception as exc:
            # The partitions moved to another consumer first, or this one is dead (the next fetch
            # replaces it): whoever reads them next reads these messages again (at least once).
            log.warning(
                "offsets not committed; their messages may be handled again",
                extra={"topic": self.topic, "offsets": {tp.partition: o for tp, o in mine.items()}, "error": repr(exc)},
            )

    async def _replace(self, failure: BaseException) -> None:
        """A new consumer for one dead of `failure`, once the old one's handlers have finished."""
        CLIENT_FAULTS.labels("consumer").inc()
        log.error(
            "the Kafka consumer died of an error inside the client; starting a new one",
            extra={"topic": self.topic},
            exc_info=(type(failure), failure, failure.__traceback__),
        )
        least_s, most_s = REPLACE_BACKOFF_S
        # A consumer that lived a while died of something new; one that died soon after it
        # started, of the same again: each such death waits twice as long as the one before.
        recent = time.monotonic() - self._replaced_at < most_s
        self._backoff_s = min(self._backoff_s * 2, most_s) if recent else least_s
        while True:
            await self._drain(list(self._partitions))
            member = group_member(self.consumer)  # before closing: a coordinator forgets it as it leaves
            await close_dead(self.consumer)
            if member is not None and self.group is not None:
                options = self._options
                within_s = options["session_timeout_ms"] / 1000
                await evict(options["bootstrap_servers"], self.group, member, options["client_id"], within_s)
            await asyncio.sleep(self._backoff_s)
            try:
                await self._join()
            except Exception:  # the broker away too, or the same death at once: tried again, later
                log.warning(
                    "a new Kafka consumer did not start; trying again", extra={"topic": self.topic}, exc_info=True
                )
                self._backoff_s = min(self._backoff_s * 2, most_s)
                continue
            self._replaced_at = time.monotonic()
            return
