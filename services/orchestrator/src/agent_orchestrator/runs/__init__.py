"""Run state between steps, and where it is kept."""

from agent_orchestrator.runs.base import Lease, RunStore, SessionTurn, StepRef, run_key, step_key
from agent_orchestrator.runs.memory import MemoryRunStore
from agent_orchestrator.runs.state import PendingCall, RunState

__all__ = [
    "Lease",
    "MemoryRunStore",
    "PendingCall",
    "RunState",
    "RunStore",
    "SessionTurn",
    "StepRef",
    "run_key",
    "step_key",
]
