"""Caps on the tool calls a run makes: per model step and per turn.

A model that asks for sixty pages in one step must not get them: the calls past
a cap are not dispatched; each gets a classified `TOOL_CALL_LIMIT` error as its
result instead, so the model reads why and answers with what it has, and the
client sees the refusal in `tool_end`. A turn at its cap is offered no tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import ToolCallRecord
from agent_common.messages import ToolOutcome

Scope = Literal["step", "turn"]


@dataclass(frozen=True)
class ToolCallLimits:
    per_step: int
    per_turn: int

    def room(self, dispatched: int) -> int:
        """How many of one step's calls may go out, `dispatched` calls into the turn."""
        return max(0, min(self.per_step, self.per_turn - dispatched))

    def offers_tools(self, dispatched: int) -> bool:
        """Whether the model is offered tools at all: not once the turn has used its cap."""
        return dispatched < self.per_turn

    def refusal(self, dispatched: int) -> ToolOutcome:
        """The result a call past the cap gets, naming the cap it hit."""
        scope: Scope = "turn" if self.per_turn - dispatched <= self.per_step else "step"
        limit = self.per_turn if scope == "turn" else self.per_step
        message = (
            f"Tool call not run: at most {limit} tool calls per {scope}. Answer with the results you already have."
        )
        return ToolOutcome(ok=False, error=ErrorInfo.of(ErrorCode.TOOL_CALL_LIMIT, message, scope=scope, limit=limit))


def dispatched_so_far(records: Sequence[ToolCallRecord]) -> int:
    """Calls the run has dispatched in earlier steps (refused ones were never run)."""
    return sum(1 for r in records if r.error is None or r.error.code is not ErrorCode.TOOL_CALL_LIMIT)
