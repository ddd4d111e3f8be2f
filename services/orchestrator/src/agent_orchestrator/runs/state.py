"""The state of a run between steps. It lives in the run store, never only in
a replica's memory, so whichever replica receives a tool result can continue."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent_common.events import Citation, ToolCallRecord, Usage
from agent_common.messages import ChatRequested
from agent_orchestrator.conversation import ChatMessage


class PendingCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str
    tool: str
    arguments: dict[str, Any]


class RunState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    session_id: str
    user_id: str
    user_message: str
    locale: str | None = None
    deadline_at: float
    # The conversation sent to the model so far, in the chat-completions message format.
    messages: list[ChatMessage]
    step: int = 0
    # Text already streamed to the client, over every step.
    answer: str = ""
    pending: list[PendingCall] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    # Passages of the user's documents put in the prompt, as the answer cites them.
    citations: list[Citation] = Field(default_factory=list)

    @classmethod
    def for_request(cls, msg: ChatRequested, messages: list[ChatMessage] | None = None, answer: str = "") -> RunState:
        """A run's state as a chat request starts it (or as a redelivery finds it)."""
        return cls(
            request_id=msg.request_id,
            session_id=msg.session_id,
            user_id=msg.user_id,
            user_message=msg.message,
            locale=msg.locale,
            deadline_at=msg.deadline_at,
            messages=messages or [],
            answer=answer,
        )
