"""Session memory: the turns of a conversation, kept for the next turn.

Bounded on every write (docs/reliability.md, "Session memory"):

- at most `max_turns` turns and at most `max_tokens` estimated tokens
  (`agent_common.token_estimate`); the oldest turns are dropped first, and the newest
  turn is always kept, however long. The system prompt is not session memory:
  it is added to every model call, never stored, so it is never dropped;
- a sliding TTL, refreshed by every turn, so an idle session costs nothing
  once it expires. An expired session id starts a fresh conversation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from agent_common.events import FINISH_LENGTH
from agent_common.token_estimate import estimate_tokens


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    user: str
    assistant: str
    tokens: int = Field(default=0, ge=0)
    """The turn's estimated size; set by `Turn.of`, estimated again for turns stored without it."""
    finish_reason: str | None = None
    """Why the model stopped, kept only when the answer is not whole (`length`: cut off at the output
    limit), so the next prompt says so; stored only when set, so turns of a whole answer keep their shape."""

    @classmethod
    def of(cls, request_id: str, user: str, assistant: str, finish_reason: str | None = None) -> Turn:
        return cls(
            request_id=request_id,
            user=user,
            assistant=assistant,
            tokens=estimate_tokens(user) + estimate_tokens(assistant),
            finish_reason=finish_reason if finish_reason == FINISH_LENGTH else None,
        )

    @property
    def truncated(self) -> bool:
        """The answer was cut off at the output limit."""
        return self.finish_reason == FINISH_LENGTH

    def cost(self) -> int:
        return self.tokens or estimate_tokens(self.user) + estimate_tokens(self.assistant)


def within_budget(turns: list[Turn], max_turns: int, max_tokens: int | None) -> list[Turn]:
    """The newest turns that fit both caps (the newest one always kept)."""
    kept = turns[-max_turns:]
    if max_tokens is None:
        return kept
    total = sum(turn.cost() for turn in kept)
    while len(kept) > 1 and total > max_tokens:
        total -= kept[0].cost()
        kept = kept[1:]
    return kept


@dataclass(frozen=True)
class SessionBounds:
    """The caps of a process's session store (the orchestrator's settings; a reader's need not matter)."""

    max_turns: int = 1
    ttl_s: float = 60
    max_tokens: int | None = None


class SessionStore(ABC):
    @abstractmethod
    async def history(self, session_id: str) -> list[Turn]:
        """The session's turns, oldest first; empty for an unknown or expired session."""

    @abstractmethod
    async def append(self, session_id: str, turn: Turn) -> None:
        """Add a turn, drop the oldest beyond the caps, and refresh the TTL. A turn whose request
        has one in the session already is not added again (an append sent twice adds one)."""

    async def ping(self) -> bool:
        return True
