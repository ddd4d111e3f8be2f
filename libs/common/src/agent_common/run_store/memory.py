"""The embedded default's run store: in-process, the same contract as Redis
(`tests/contracts/run_store.py` holds both to it)."""

from __future__ import annotations

import time
from typing import Any

from agent_common.run_store.base import (
    ClaimResult,
    RunClaims,
    RunStates,
    RunStore,
    SessionTurn,
    ToolDeadlines,
    ToolResults,
)

_DONE = "\x00done"


# Expired entries are swept out at most this often; each read checks its own entry's expiry. A
# sweep on every call walked every run of the kept window (an hour of finished runs) per claim.
SWEEP_EVERY_S = 1.0


class _Sweeper:
    """Drops the entries whose time ran out (each value is `(expiry, what is kept)`), at most once
    every `SWEEP_EVERY_S`: memory tracks live entries, and no call pays for all of them."""

    def __init__(self) -> None:
        self._next_at = 0.0

    def __call__(self, *stores: dict[Any, tuple[float, Any]]) -> None:
        now = time.monotonic()
        if now < self._next_at:
            return
        self._next_at = now + SWEEP_EVERY_S
        for entries in stores:
            for key in [k for k, (exp, _) in entries.items() if exp < now]:
                del entries[key]


def _live(entries: dict[Any, tuple[float, Any]], key: Any) -> tuple[float, Any] | None:
    """The entry under `key` unless its time ran out (then it is dropped)."""
    entry = entries.get(key)
    if entry is not None and entry[0] < time.monotonic():
        del entries[key]
        return None
    return entry


class MemoryRunClaims(RunClaims):
    def __init__(self) -> None:
        self._leases: dict[str, tuple[float, str]] = {}  # key -> (expiry, owner or "done")
        self._payloads: dict[str, tuple[float, str]] = {}  # lease key -> (expiry, what a takeover needs)
        self._turns: dict[str, tuple[float, str]] = {}  # session id -> (expiry, request id)
        self._sweep = _Sweeper()

    def _expire(self) -> None:
        self._sweep(self._leases, self._payloads, self._turns)

    async def claim(
        self, key: str, payload: str, owner: str, lease_s: float, keep_s: float, turn: SessionTurn | None = None
    ) -> ClaimResult:
        self._expire()
        held = _live(self._leases, key)
        if held is not None:
            return ClaimResult.DONE if held[1] == _DONE else ClaimResult.HELD
        if turn is not None and (_live(self._turns, turn.session_id) or (0.0, turn.request_id))[1] != turn.request_id:
            return ClaimResult.SESSION_BUSY
        now = time.monotonic()
        self._leases[key] = (now + lease_s, owner)
        self._payloads[key] = (now + keep_s, payload)
        if turn is not None:
            self._turns[turn.session_id] = (now + keep_s, turn.request_id)
        return ClaimResult.TAKEN

    async def claimed(self, key: str) -> bool:
        self._expire()
        return _live(self._leases, key) is not None

    async def renew(self, key: str, owner: str, lease_s: float) -> bool:
        self._expire()
        held = _live(self._leases, key)
        if held is not None and held[1] != owner:
            return False
        self._leases[key] = (time.monotonic() + lease_s, owner)
        return True

    async def finish(self, key: str, ttl_s: float) -> None:
        self._leases[key] = (time.monotonic() + ttl_s, _DONE)
        self._payloads.pop(key, None)

    async def abandon(self, key: str, owner: str) -> None:
        if (_live(self._leases, key) or (0.0, ""))[1] == owner:
            del self._leases[key]

    async def take_expired(self, owner: str, lease_s: float, limit: int) -> list[tuple[str, str]]:
        self._expire()
        # A kept payload whose lease is gone is work nobody renews (no index needed in memory).
        expired = [key for key in list(self._payloads) if _live(self._payloads, key) and not _live(self._leases, key)]
        expired = expired[:limit]
        for key in expired:
            self._leases[key] = (time.monotonic() + lease_s, owner)
        return [(key, self._payloads[key][1]) for key in expired]

    async def end_turn(self, session_id: str, request_id: str) -> None:
        if (_live(self._turns, session_id) or (0.0, ""))[1] == request_id:
            del self._turns[session_id]


class MemoryRunStates(RunStates):
    def __init__(self) -> None:
        self._states: dict[str, tuple[float, str]] = {}
        self._sweep = _Sweeper()

    async def save(self, request_id: str, state_json: str, ttl_s: float) -> None:
        self._states[request_id] = (time.monotonic() + ttl_s, state_json)

    async def load(self, request_id: str) -> str | None:
        self._sweep(self._states)
        entry = _live(self._states, request_id)
        return entry[1] if entry else None

    async def delete(self, request_id: str) -> None:
        self._states.pop(request_id, None)


class MemoryToolResults(ToolResults):
    def __init__(self) -> None:
        self._results: dict[tuple[str, int], tuple[float, dict[str, str]]] = {}
        self._sweep = _Sweeper()

    async def record(
        self, request_id: str, step: int, call_id: str, outcome_json: str, expected: int, ttl_s: float
    ) -> tuple[bool, bool]:
        self._sweep(self._results)
        _, results = _live(self._results, (request_id, step)) or (0.0, {})
        self._results[(request_id, step)] = (time.monotonic() + ttl_s, results)  # each result renews it, as in Redis
        if call_id in results:
            return False, False
        results[call_id] = outcome_json
        return True, len(results) == expected

    async def of_step(self, request_id: str, step: int) -> dict[str, str]:
        self._sweep(self._results)
        entry = _live(self._results, (request_id, step))
        return dict(entry[1]) if entry else {}


class MemoryToolDeadlines(ToolDeadlines):
    def __init__(self) -> None:
        self._deadlines: dict[tuple[str, int], float] = {}

    async def schedule(self, request_id: str, step: int, due_at: float) -> None:
        self._deadlines[(request_id, step)] = due_at

    async def take_due(self, now: float, limit: int = 100) -> list[tuple[str, int]]:
        due = sorted((at, key) for key, at in self._deadlines.items() if at <= now)[:limit]
        for _, key in due:
            del self._deadlines[key]
        return [key for _, key in due]


class MemoryRunStore(RunStore):
    def __init__(self) -> None:
        super().__init__(MemoryRunClaims(), MemoryRunStates(), MemoryToolResults(), MemoryToolDeadlines())
