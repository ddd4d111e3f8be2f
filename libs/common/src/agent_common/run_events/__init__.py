"""Run events from the orchestrator to the gateway: pub/sub plus a replay buffer."""

from agent_common.run_events.base import RunEventChannel, SequenceTracker
from agent_common.run_events.endings import RunEnding, end_run, failure
from agent_common.run_events.memory import MemoryRunEventChannel

__all__ = ["MemoryRunEventChannel", "RunEnding", "RunEventChannel", "SequenceTracker", "end_run", "failure"]
