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

from prometheus_client import Gauge

log = logging.getLogger("agent.bus.lag")

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag_messages",
    "Messages not yet committed by a consumer group, per topic, over the partitions assigned to this replica.",
    ["group", "topic"],
)

# One subscription: its consumer group and a way to reach its live aiokafka consumers.
Subscription = tuple[str, Callable[[], Iterable[Any]]]


async def group_lag(consumer: Any) -> dict[str, int]:
    """Lag per topic over the partitions assigned to `consumer` (aiokafka's `AIOKafkaConsumer`)."""
    lag: dict[str, int] = {}
    partitions = list(consumer.assignment())
    if not partitions:
        return lag
    # Asked of the broker, not the consumer's last fetch: a consumer stuck on a message
    # stops fetching, and its own high watermark would hide the backlog growing behind it.
    end_offsets = await consumer.end_offsets(partitions)
    for partition in partitions:
        committed = await consumer.committed(partition)
        behind = max(end_offsets[partition] - (committed or 0), 0)
        lag[partition.topic] = lag.get(partition.topic, 0) + behind
    return lag


async def report_lag(subscriptions: list[Subscription], interval_s: float) -> None:
    """Refresh the gauge every `interval_s` until cancelled; a failed refresh keeps the last value."""
    while True:
        for group, consumers in subscriptions:
            totals: dict[str, int] = {}
            for consumer in consumers():
                try:
                    async with asyncio.timeout(interval_s):
                        per_topic = await group_lag(consumer)
                except Exception as exc:  # a rebalance or a broker away: try again next round
                    log.debug("consumer lag not read", extra={"group": group, "error": repr(exc)})
                    continue
                for topic, value in per_topic.items():
                    totals[topic] = totals.get(topic, 0) + value
            for topic, value in totals.items():
                CONSUMER_LAG.labels(group, topic).set(value)
        await asyncio.sleep(interval_s)


def live_consumers(subscriber: Any) -> Callable[[], Iterable[Any]]:
    """The aiokafka consumers behind a FastStream subscriber: one, or one per worker when concurrent."""

    def consumers() -> Iterable[Any]:
        group = getattr(subscriber, "consumer_subgroup", None)
        if group:
            return list(group)
        consumer = getattr(subscriber, "consumer", None)
        return [consumer] if consumer is not None else []

    return consumers
