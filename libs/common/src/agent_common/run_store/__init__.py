"""Where a run is kept between steps, across replicas: who owns its work (claims and
leases, with its session's turn), its state, its tool results and their deadlines.

One interface per concern (`base.py`), one file per implementation: `memory.py`
for the embedded default, `redis.py` shared by every replica. The store keeps
plain strings (JSON); what they mean is the orchestrator's.
"""

from agent_common.run_store.base import (
    ClaimResult,
    RunClaims,
    RunStates,
    RunStore,
    SessionTurn,
    ToolDeadlines,
    ToolResults,
    chat_run_key,
)
from agent_common.run_store.memory import MemoryRunStore

__all__ = [
    "ClaimResult",
    "MemoryRunStore",
    "RunClaims",
    "RunStates",
    "RunStore",
    "SessionTurn",
    "ToolDeadlines",
    "ToolResults",
    "chat_run_key",
]
