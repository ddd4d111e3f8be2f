"""The Kafka topics, their partition counts and who consumes them.

Partition counts are a capacity decision: a consumer group never runs more
busy consumers than a topic has partitions (and KEDA's Kafka scaler never
scales past it), so these numbers bound how far each service scales out.
See docs/topics.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    consumer_group: str


CHAT_REQUESTS = Topic("chat.requests", partitions=12, consumer_group="orchestrator-chat")
TOOL_CALLS = Topic("tool.calls", partitions=12, consumer_group="tool-runner")
TOOL_RESULTS = Topic("tool.results", partitions=12, consumer_group="orchestrator-tool-results")

# Messages no handler could take: read by operators (and replayed by hand), never by a service.
DEAD_LETTERS = Topic("dead.letters", partitions=1, consumer_group="operators")

ALL_TOPICS: tuple[Topic, ...] = (CHAT_REQUESTS, TOOL_CALLS, TOOL_RESULTS, DEAD_LETTERS)
