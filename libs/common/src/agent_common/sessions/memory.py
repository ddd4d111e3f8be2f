"""The embedded default's session store: in-process, same bounds as Redis."""

from __future__ import annotations

import time

from agent_common.sessions.base import SessionStore, Turn, within_budget

SWEEP_EVERY_S = 1.0


class MemorySessionStore(SessionStore):
    def __init__(self, max_turns: int, ttl_s: float, max_tokens: int | None = None) -> None:
        self._max_turns = max_turns
        self._max_tokens = max_tokens
        self._ttl_s = ttl_s
        self._sessions: dict[str, tuple[float, list[Turn]]] = {}
        self._next_sweep = 0.0

    async def history(self, session_id: str) -> list[Turn]:
        entry = self._sessions.get(session_id)
        if entry is None or entry[0] < time.monotonic():
            self._sessions.pop(session_id, None)
            return []
        return list(entry[1])

    async def append(self, session_id: str, turn: Turn) -> None:
        now = time.monotonic()
        # Drop expired sessions as we go, so memory tracks live sessions only; at most once a
        # second, or every turn would walk every session of the last two days.
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_S
            for key in [k for k, (exp, _) in self._sessions.items() if exp < now]:
                del self._sessions[key]
        expires_at, turns = self._sessions.get(session_id, (0.0, []))
        if expires_at < now:
            turns = []
        if any(kept.request_id == turn.request_id for kept in turns):  # a request's turn goes in once
            self._sessions[session_id] = (now + self._ttl_s, turns)
            return
        self._sessions[session_id] = (
            now + self._ttl_s,
            within_budget([*turns, turn], self._max_turns, self._max_tokens),
        )
