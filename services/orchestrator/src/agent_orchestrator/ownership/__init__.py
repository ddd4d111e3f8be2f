"""Who runs a run, wrapped around the agent loop from outside: claims and leases
(`leases.py`), a replica's bounded runs in the background (`background_runs.py`),
what is done with work whose replica died (`takeover.py`), tool results as they
arrive (`tool_results.py`), their deadlines (`deadlines.py`), and the periodic
sweeps that find work no message asks for (`sweeps.py`)."""

from agent_orchestrator.ownership.background_runs import BackgroundRuns
from agent_orchestrator.ownership.deadlines import DeadlineWatch
from agent_orchestrator.ownership.leases import HeldLease, Leases, StepRef, new_owner, run_key, step_key
from agent_orchestrator.ownership.sweeps import Periodic
from agent_orchestrator.ownership.takeover import Takeover
from agent_orchestrator.ownership.tool_results import ToolResultRecorder

__all__ = [
    "BackgroundRuns",
    "DeadlineWatch",
    "HeldLease",
    "Leases",
    "Periodic",
    "StepRef",
    "Takeover",
    "ToolResultRecorder",
    "new_owner",
    "run_key",
    "step_key",
]
