"""A Kafka client's own death: finding it, and closing what is left.

aiokafka's clients work from background tasks, and a task that meets an error it does not
expect ends for good (uvloop's transport raises `RuntimeError` on a write to a connection
the broker closed, aio-libs/aiokafka#1038):

- the producer's sender: every send after it fails with a copy of the error;
- the consumer's group coordinator routine, its heartbeat, its fetcher: a dead heartbeat
  makes every fetch after it raise the error; a dead coordinator makes every fetch raise a
  `KafkaError` wrapping it ("Unexpected error during coordination"), which reads like a
  broker's passing refusal; a dead fetcher raises nothing and hands over nothing;
- either client's metadata refresh: whatever waits for new metadata waits for good.

Each leaves a process that looks ready (its pings pass) and does nothing, while a dead
consumer's group keeps its partitions until its session times out. `ProducerKeeper`
(`kafka_producer.py`) and `PartitionedConsumer` (`kafka_consumer.py`) ask here and replace
a dead client. This reads aiokafka's and FastStream's private fields: there are no public
ones. tests/common/test_bus_client_faults.py and test_bus_consumer_faults.py fail if they move.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

log = logging.getLogger("agent.bus")

T = TypeVar("T")

# How long each step of closing a dead consumer may wait on it. The group is left explicitly
# afterwards (`kafka_rejoin.evict`), so nothing depends on a step finishing: a coordinator whose
# metadata refresh died waits for new metadata for good, and its close with it.
CLOSE_STEP_S = 2.0


class ClientDied(Exception):
    """An operation given up because its client died meanwhile (`unless_dead`)."""


def _died_of(tasks: Iterable[asyncio.Task[Any] | None]) -> BaseException | None:
    for task in tasks:
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            return task.exception()
    return None


def sender_failure(broker: KafkaBroker) -> BaseException | None:
    """What the broker's aiokafka producer died of, or None while it lives (or is not started)."""
    state = broker.config.producer._producer  # type: ignore[attr-defined]  # FastStream's RealProducer
    producer = getattr(state, "producer", None)  # absent while the broker is stopped
    if producer is None:
        return None
    return _died_of((producer._sender.sender_task, producer.client._sync_task))


def _background(consumer: AIOKafkaConsumer) -> list[asyncio.Task[Any]]:
    """The consumer's background tasks (none before it has started)."""
    coordinator = consumer._coordinator
    tasks = (
        getattr(coordinator, "_coordination_task", None),  # absent without a group
        getattr(coordinator, "_heartbeat_task", None),
        getattr(consumer._fetcher, "_fetch_task", None),
        consumer._client._sync_task,
    )
    return [task for task in tasks if task is not None]


def consumer_failure(consumer: AIOKafkaConsumer) -> BaseException | None:
    """What one of the consumer's background tasks died of, or None while they live (or before
    it has started)."""
    return _died_of(_background(consumer))


def group_member(consumer: AIOKafkaConsumer) -> str | None:
    """The member id the consumer holds in its group, if it has joined one and not left it."""
    member_id: str = getattr(consumer._coordinator, "member_id", "")  # "": none (aiokafka's UNKNOWN_MEMBER_ID)
    return member_id or None


async def unless_dead(consumer: AIOKafkaConsumer, operation: Awaitable[T]) -> T:
    """`operation`'s result, or `ClientDied` as soon as one of `consumer`'s background tasks dies
    (the operation is then cancelled): a commit on a consumer whose metadata refresh has died
    waits for new metadata for good, and would hold up the consumer's replacement with it."""
    task = asyncio.ensure_future(operation)
    watched = set(_background(consumer))
    try:
        while True:
            if (failure := _died_of(watched)) is not None:
                raise ClientDied(repr(failure)) from failure
            done, _ = await asyncio.wait({task, *watched}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            watched = {t for t in watched if t not in done or _died_of([t]) is not None}  # ended cleanly: closing
    finally:
        if not task.done():
            task.cancel()
            task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Take what a task given up on ended with, so that asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()


def forget_ended_refresh(client: Any) -> None:
    """An aiokafka client whose metadata refresh has ended closes without raising what it died of
    (`close` awaits it): there is nothing left of it to stop."""
    task = client._sync_task
    if task is not None and task.done():
        client._sync_task = None


def forget_dead_producer_tasks(broker: KafkaBroker) -> None:
    """`forget_ended_refresh` for the broker's producer, before it is stopped."""
    producer = getattr(broker.config.producer._producer, "producer", None)  # type: ignore[attr-defined]
    if producer is not None:
        forget_ended_refresh(producer.client)


async def close_dead(consumer: AIOKafkaConsumer, step_s: float = CLOSE_STEP_S) -> None:
    """`AIOKafkaConsumer.stop`, step by step, for a consumer found dead: the group left where the
    coordinator still can, the fetcher stopped, the connections closed, then whatever of it still
    runs cancelled. Each step is tried even if the one before failed; none fails the caller."""
    consumer._closed = True  # as `stop` marks it first: nothing is fetched through it any more
    coordinator, fetcher = consumer._coordinator, consumer._fetcher  # None if its start failed early
    steps: list[Callable[[], Awaitable[object]]] = []
    closing: asyncio.Task[None] | None = None
    if coordinator is not None:
        closing = asyncio.create_task(coordinator.close())
        await asyncio.sleep(0)  # it has marked itself closing and waits for its routine
        # A routine that handed its error over waits for a fetch to take it: taken here, it sees
        # the coordinator closing and ends (leaving the group on the way out).
        with contextlib.suppress(Exception):
            coordinator.check_errors()
        steps.append(lambda: closing)
    if fetcher is not None:
        steps.append(fetcher.close)
    forget_ended_refresh(consumer._client)
    steps.append(consumer._client.close)
    for step in steps:
        try:
            async with asyncio.timeout(step_s):
                await step()
        except Exception:  # the death itself, raised again by a task it ended, or a step that hung
            log.debug("a step of closing a dead Kafka consumer failed", exc_info=True)
        except asyncio.CancelledError:
            # The fetcher's close awaits the fetch requests in flight it has just cancelled, and
            # raises their cancellation: that one is the step's, not a cancellation of the caller.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            log.debug("a step of closing a dead Kafka consumer was cancelled", exc_info=True)
    for task in [*_background(consumer), *([closing] if closing is not None else [])]:
        task.cancel()  # a routine waiting on the dead one for good
