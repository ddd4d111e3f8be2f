"""Run states as the orchestrator keeps them between steps: `RunState` over the run
store's JSON strings (`agent_common.run_store.RunStates`), kept until a while past
the run's deadline."""

from __future__ import annotations

import logging
import time

from pydantic import ValidationError

from agent_common.run_store import RunStates
from agent_orchestrator.runs.state import RunState

log = logging.getLogger("agent.orchestrator.runs")


class SavedRuns:
    def __init__(self, states: RunStates, keep_after_deadline_s: float) -> None:
        self._states = states
        self._keep_after_deadline_s = keep_after_deadline_s

    def ttl_s(self, state: RunState) -> float:
        """How long a run's state (and its tool results) are kept: past its deadline, nobody waits for it."""
        return max(state.deadline_at - time.time(), 0) + self._keep_after_deadline_s

    async def save(self, state: RunState) -> None:
        await self._states.save(state.request_id, state.model_dump_json(), self.ttl_s(state))

    async def load(self, request_id: str) -> RunState | None:
        raw = await self._states.load(request_id)
        if raw is None:
            return None
        try:
            return RunState.model_validate_json(raw)
        except ValidationError:
            log.error("unreadable run state; treating the run as gone", extra={"request_id": request_id})
            return None

    async def delete(self, request_id: str) -> None:
        await self._states.delete(request_id)
