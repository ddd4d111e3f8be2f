"""The gateway's HTTP bodies. Run events themselves are agent_common.events."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from agent_common.errors import ErrorInfo
from agent_common.events import Citation, DoneEvent, ToolCallRecord, Usage

SessionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    message: str = Field(min_length=1, max_length=32_000, description="The user's message.")
    session_id: SessionId | None = Field(default=None, description="Continue this session; omit to start a new one.")
    locale: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = Field(
        default=None, description="Language for platform messages, e.g. `ko` or `en-US`."
    )


class ChatResponse(BaseModel):
    request_id: str
    session_id: str
    answer: str
    model: str
    tool_calls: list[ToolCallRecord]
    usage: Usage
    citations: list[Citation] = Field(
        default_factory=list, description="The passages of the user's documents the answer cites, by marker."
    )

    @classmethod
    def from_done(cls, done: DoneEvent) -> ChatResponse:
        return cls(
            request_id=done.request_id,
            session_id=done.session_id,
            answer=done.answer,
            model=done.model,
            tool_calls=done.tool_calls,
            usage=done.usage,
            citations=done.citations,
        )


class ErrorResponse(BaseModel):
    error: ErrorInfo
    request_id: str | None = None
    session_id: str | None = None
    partial_answer: str | None = None
