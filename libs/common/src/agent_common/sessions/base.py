"""Session memory: the turns of a conversation, kept for the next turn.

Bounded on every write: at most `max_turns` turns (oldest dropped first) and a
sliding TTL, so an idle session costs nothing after it expires.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel, ConfigDict


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    user: str
    assistant: str


class SessionStore(ABC):
    @abstractmethod
    async def history(self, session_id: str) -> list[Turn]:
        """The session's turns, oldest first; empty for an unknown or expired session."""

    @abstractmethod
    async def append(self, session_id: str, turn: Turn) -> None:
        """Add a turn, drop the oldest beyond the cap, and refresh the TTL."""

    async def ping(self) -> bool:
        return True
