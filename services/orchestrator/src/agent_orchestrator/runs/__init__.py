"""A run's state between steps, and how the orchestrator keeps it in the run store."""

from agent_orchestrator.runs.saved import SavedRuns
from agent_orchestrator.runs.state import PendingCall, RunState

__all__ = ["PendingCall", "RunState", "SavedRuns"]
