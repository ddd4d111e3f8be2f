"""The gateway's HTTP bodies. Run events themselves are agent_common.events."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from agent_common.errors import ErrorInfo
from agent_common.events import Citation, DoneEvent, ToolCallRecord, Usage
from agent_common.messages import ReindexMode, ReindexSource

SessionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    message: str = Field(
        min_length=1,
        max_length=32_000,
        description="The user's message: text with at least one character that is not whitespace, "
        "without NUL characters.",
        # Documented for clients (and the fuzzer); enforced by `_storable_text` and the chat route's
        # `turns._check_not_blank` (`str.isspace`: the characters `\s` matches in Python), with clearer messages.
        json_schema_extra={"pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"},
    )
    session_id: SessionId | None = Field(default=None, description="Continue this session; omit to start a new one.")
    locale: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = Field(
        default=None, description="Language for platform messages, e.g. `ko` or `en-US`."
    )

    @field_validator("message")
    @classmethod
    def _storable_text(cls, value: str) -> str:
        # JSON may carry `\u0000` and lone surrogates (`\ud800`): valid escapes, but
        # text that later fails to encode for Kafka and Redis, or truncates in C code.
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
        return value


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
    finish_reason: str | None = Field(
        default=None,
        description="Why the model stopped: `stop` (the answer is whole), `length` (cut off at the output limit: "
        "the answer is incomplete), or what else the model said; null when the platform answered itself.",
    )
    note: str | None = Field(
        default=None, description="A note for the user in their language when the answer is not whole."
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
            finish_reason=done.finish_reason,
            note=done.note,
        )


class ErrorResponse(BaseModel):
    error: ErrorInfo
    request_id: str | None = None
    session_id: str | None = None
    partial_answer: str | None = None
    fallback: str | None = None
    """A short message for the user in their language, when the platform could not answer."""


class SessionTurn(BaseModel):
    request_id: str
    user: str
    assistant: str
    finish_reason: str | None = Field(
        default=None, description="`length` when the stored answer was cut off at the output limit; else null."
    )


class SessionResponse(BaseModel):
    session_id: str
    turns: list[SessionTurn]


class ReindexBody(BaseModel):
    """A reindex command as a client sends it; the gateway adds the ids and who asked."""

    model_config = ConfigDict(extra="forbid")

    source: ReindexSource = Field(
        description="What to index: `name`, `paths` (files and folders as the indexer sees them, under "
        "`RAG_INDEXER_ALLOWED_ROOTS`) and/or inline `documents`."
    )
    mode: ReindexMode = Field(
        default="incremental",
        description="`incremental` updates the live index in place; `full` builds a new version and switches to it; "
        "`remove` deletes the documents indexed from `paths` (files, or everything under folders), or with no "
        "paths every document of the source `name`.",
    )


class ReindexAccepted(BaseModel):
    request_id: str = Field(description="The command's id: follow it at `/api/reindex/{request_id}/events`.")
