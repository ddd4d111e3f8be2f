"""Run events from the orchestrator to the gateway: pub/sub plus a replay buffer."""

from agent_common.run_events.base import RunEventChannel, SequenceTracker
from agent_common.run_events.memory import MemoryRunEventChannel

__all__ = ["MemoryRunEventChannel", "RunEventChannel", "SequenceTracker"]
