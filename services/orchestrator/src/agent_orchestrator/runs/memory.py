"""The embedded default's run store: in-process, same contract as Redis."""

from __future__ import annotations

import time

from agent_orchestrator.runs.base import Lease, RunStore
from agent_orchestrator.runs.state import RunState

_DONE = "\x00done"


class MemoryRunStore(RunStore):
    def __init__(self) -> None:
        self._states: dict[str, tuple[float, str]] = {}
        self._results: dict[tuple[str, int], tuple[float, dict[str, str]]] = {}
        self._leases: dict[str, tuple[float, str]] = {}  # key -> (expiry, owner or "done")
        self._deadlines: dict[tuple[str, int], float] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (exp, _) in self._states.items() if exp < now]:
            del self._states[key]
        for step_key in [k for k, (exp, _) in self._results.items() if exp < now]:
            del self._results[step_key]
        for key in [k for k, (exp, _) in self._leases.items() if exp < now]:
            del self._leases[key]

    async def begin(self, key: str, owner: str, lease_s: float) -> Lease:
        self._expire()
        held = self._leases.get(key)
        if held is not None:
            return Lease.DONE if held[1] == _DONE else Lease.HELD
        self._leases[key] = (time.monotonic() + lease_s, owner)
        return Lease.TAKEN

    async def renew(self, key: str, owner: str, lease_s: float) -> bool:
        held = self._leases.get(key)
        if held is None or held[1] != owner:
            return False
        self._leases[key] = (time.monotonic() + lease_s, owner)
        return True

    async def finish(self, key: str, ttl_s: float) -> None:
        self._leases[key] = (time.monotonic() + ttl_s, _DONE)

    async def schedule_deadline(self, request_id: str, step: int, due_at: float) -> None:
        self._deadlines[(request_id, step)] = due_at

    async def take_due_deadlines(self, now: float, limit: int = 100) -> list[tuple[str, int]]:
        due = sorted((at, key) for key, at in self._deadlines.items() if at <= now)[:limit]
        for _, key in due:
            del self._deadlines[key]
        return [key for _, key in due]

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
