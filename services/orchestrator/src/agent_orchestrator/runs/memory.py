"""The embedded default's run store: in-process, same contract as Redis."""

from __future__ import annotations

import time

from agent_orchestrator.runs.base import RunStore
from agent_orchestrator.runs.state import RunState


class MemoryRunStore(RunStore):
    def __init__(self) -> None:
        self._claims: dict[str, float] = {}
        self._states: dict[str, tuple[float, str]] = {}
        self._results: dict[tuple[str, int], tuple[float, dict[str, str]]] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, exp in self._claims.items() if exp < now]:
            del self._claims[key]
        for key in [k for k, (exp, _) in self._states.items() if exp < now]:
            del self._states[key]
        for step_key in [k for k, (exp, _) in self._results.items() if exp < now]:
            del self._results[step_key]

    async def claim(self, key: str, ttl_s: float) -> bool:
        self._expire()
        if key in self._claims:
            return False
        self._claims[key] = time.monotonic() + ttl_s
        return True

    async def save(self, state: RunState, ttl_s: float) -> None:
        self._states[state.request_id] = (time.monotonic() + ttl_s, state.model_dump_json())

    async def load(self, request_id: str) -> RunState | None:
        self._expire()
        entry = self._states.get(request_id)
        return RunState.model_validate_json(entry[1]) if entry else None

    async def delete(self, request_id: str) -> None:
        self._states.pop(request_id, None)

    async def record_tool_result(
        self, request_id: str, step: int, call_id: str, outcome_json: str, expected: int, ttl_s: float
    ) -> tuple[bool, bool]:
        _, results = self._results.setdefault((request_id, step), (time.monotonic() + ttl_s, {}))
        if call_id in results:
            return False, False
        results[call_id] = outcome_json
        return True, len(results) == expected

    async def tool_results(self, request_id: str, step: int) -> dict[str, str]:
        entry = self._results.get((request_id, step))
        return dict(entry[1]) if entry else {}
