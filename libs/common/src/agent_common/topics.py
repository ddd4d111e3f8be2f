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
    # Empty: read by every replica of its consumer, each from the topic's start, outside any group.
    consumer_group: str


CHAT_REQUESTS = Topic("chat.requests", partitions=12, consumer_group="orchestrator-chat")
TOOL_CALLS = Topic("tool.calls", partitions=12, consumer_group="tool-runner")
TOOL_RESULTS = Topic("tool.results", partitions=12, consumer_group="orchestrator-tool-results")

# Reindex commands are keyed by index name: one index's commands run one at a time, in order.
RAG_REINDEX = Topic("rag.reindex", partitions=3, consumer_group="rag-indexer")
# Status events are read by every gateway replica, each assigned every partition without a
# group (nothing committed, no group left behind by a replica that goes), so any replica's
# `/api/reindex` can stream any command's progress.
RAG_STATUS = Topic("rag.status", partitions=3, consumer_group="")
# Messages no handler could take: read by operators (and replayed by hand), never by a service.
DEAD_LETTERS = Topic("dead.letters", partitions=1, consumer_group="operators")
# One usage entry per run, keyed by request id, stored by the ledger writer the orchestrator hosts
# (docs/cost.md). Its rate is the runs' rate, a small share of `chat.requests`'s traffic.
USAGE_ENTRIES = Topic("usage.entries", partitions=6, consumer_group="ledger")

ALL_TOPICS: tuple[Topic, ...] = (
    CHAT_REQUESTS,
    TOOL_CALLS,
    TOOL_RESULTS,
    RAG_REINDEX,
    RAG_STATUS,
    DEAD_LETTERS,
    USAGE_ENTRIES,
)
