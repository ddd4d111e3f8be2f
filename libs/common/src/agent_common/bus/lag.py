"""Kafka consumer lag per consumer group and topic, as a Prometheus gauge.

Lag is what `kafka-consumer-groups --describe` shows: the partition's end
offset (asked of the broker) minus the group's committed offset. Commits happen after a handler
has run (at least once), so a message fetched but not yet handled still
counts as lag. Each replica reports the partitions assigned to it; sum by
`group` and `topic` across replicas for the group's lag.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge

log = logging.getLogger("agent.bus.lag")

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag_messages",
    "Messages not yet committed by a consumer group, per topic, over the partitions assigned to this replica.",
    ["group", "topic"],
)

# One subscription: its consumer group and a way to reach its live aiokafka consumers.
Subscription = tuple[str, Callable[[], Iterable[Any]]]


class EndOffsets:
    """Partitions' end offsets, asked of the broker on a connection of their own.

    A broker answers one connection's requests in order, and a member consumer's connection
    to a partition's leader nearly always holds a long-poll fetch (`FETCH_MAX_WAIT_MS`): asked
    there, every read waited out the poll (measured: 4-5 s of each 5 s, so a gauge refreshed
    under a short deadline stayed stale). A group-less consumer that fetches nothing answers at once.
    """

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._options = {"bootstrap_servers": bootstrap_servers, "client_id": client_id, "enable_auto_commit": False}
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self._options)
            try:
                await consumer.start()
            except BaseException:  # the broker away, or the refresh's deadline: built anew next round
                await consumer.stop()
                raise
            self._consumer = consumer
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(partitions)
        return ends

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


async def group_lag(consumer: Any, ends: EndOffsets) -> dict[str, int]:
    """Lag per topic over the partitions assigned to `consumer` (aiokafka's `AIOKafkaConsumer`)."""
    lag: dict[str, int] = {}
    partitions = list(consumer.assignment())
    if not partitions:
        return lag
    # Asked of the broker, not the consumer's last fetch: a consumer stuck on a message
    # stops fetching, and its own high watermark would hide the backlog growing behind it.
    end_offsets = await ends.read(partitions)
    for partition in partitions:
        # The group coordinator's connection, which holds no long poll.
        committed = await consumer.committed(partition)
        behind = max(end_offsets[partition] - (committed or 0), 0)
        lag[partition.topic] = lag.get(partition.topic, 0) + behind
    return lag


async def report_lag(subscriptions: list[Subscription], interval_s: float, ends: EndOffsets) -> None:
    """Refresh the gauge every `interval_s` until cancelled; a failed refresh keeps the last value."""
    try:
        while True:
            for group, consumers in subscriptions:
                totals: dict[str, int] = {}
                for consumer in consumers():
                    try:
                        async with asyncio.timeout(interval_s):
                            per_topic = await group_lag(consumer, ends)
                    except Exception as exc:  # a rebalance or a broker away: try again next round
                        log.debug("consumer lag not read", extra={"group": group, "error": repr(exc)})
                        continue
                    for topic, value in per_topic.items():
                        totals[topic] = totals.get(topic, 0) + value
                for topic, value in totals.items():
                    CONSUMER_LAG.labels(group, topic).set(value)
            await asyncio.sleep(interval_s)
    finally:
        await ends.close()
