"""Run events: what the orchestrator reports about a run, and what the gateway
relays to clients as Server-Sent Events. One definition for the server, the
web page and docs/sse-events.md.

The SSE frame of an event is `event: <type>`, `id: <seq>`, `data: <json>`.
`seq` grows by one per event of a request, so a client that reconnects with
`Last-Event-ID: <seq>` can be sent exactly what it missed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agent_common.errors import ErrorInfo


class Usage(BaseModel):
    """Token usage of a run, summed over its model calls."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class ToolCallRecord(BaseModel):
    """A tool call made during a run, as the client sees it in `done`."""

    model_config = ConfigDict(extra="forbid")

    call_id: str
    tool: str
    arguments: dict[str, Any]
    ok: bool
    error: ErrorInfo | None = None


class Citation(BaseModel):
    """A passage of the user's documents that the answer was built from.

    `marker` is the number the answer cites it by (`[1]`); `location` is where
    the passage sits in its document, for a person (heading path, page), and
    `char_start`/`char_end` the offsets in the document's extracted text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    marker: int
    title: str
    source: str
    version: str
    location: str
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    snippet: str
    score: float


class RetrievalSummary(BaseModel):
    """How the question fared against the documents, for a client to tell "not covered" cases apart.

    `outcome`: `covered` (passages in the prompt), `uncovered` (under the threshold: the model
    answered alone) or `fallback` (under it, documents-only: the platform's no-match answer).
    `near_miss`: under the threshold by less than `RAG_NEAR_MISS_MARGIN`, an "almost covered"
    question (rephrase it, or index more) rather than an off-topic one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: Literal["covered", "uncovered", "fallback"]
    best_score: float
    threshold: float
    near_miss: bool = False


# The finish reason of an answer cut off at the output limit (OpenAI's name for it).
FINISH_LENGTH = "length"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    # Assigned when the event is published to the run's channel; 0 before that.
    seq: int = 0

    def sse_data(self) -> str:
        return orjson.dumps(self.model_dump(mode="json")).decode()


class TokenEvent(_Event):
    """A piece of the answer text, in order. Joining every token gives the answer."""

    type: Literal["token"] = "token"
    text: str


class ToolStartEvent(_Event):
    """The model asked for a tool call and it has been dispatched."""

    type: Literal["tool_start"] = "tool_start"
    call_id: str
    tool: str
    arguments: dict[str, Any]


class ToolEndEvent(_Event):
    """A tool call finished, with its outcome: ok, or a classified error."""

    type: Literal["tool_end"] = "tool_end"
    call_id: str
    tool: str
    ok: bool
    error: ErrorInfo | None = None
    summary: str = ""
    duration_ms: float = 0.0


class CitationsEvent(_Event):
    """The passages retrieved from the user's documents and put in the prompt, numbered as the
    answer cites them. Sent before the first token of a run that retrieved any, so every one of
    them: which of them the answer cites is known at the end, in `done`'s `citations`."""

    type: Literal["citations"] = "citations"
    citations: list[Citation]


class DoneEvent(_Event):
    """The run finished with an answer. Always the last event of a successful run."""

    type: Literal["done"] = "done"
    session_id: str
    answer: str
    model: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    # The passages the answer cites by their marker ([1]), a subset of the `citations` event's
    # (empty when no documents were used, or the answer cites none of them).
    citations: list[Citation] = Field(default_factory=list)
    # How the question fared against the documents (None when nothing was searched: no index, a URL).
    # Written only when set, so a `done` without it reads the same to a gateway of the version before.
    retrieval: RetrievalSummary | None = Field(default=None, exclude_if=lambda value: value is None)
    # Why the model stopped: "stop" (the answer is whole), "length" (cut off at the output limit),
    # or what else the model said; None from a run that made no model call (a platform answer).
    finish_reason: str | None = None
    # A word for the user, in their language, when the answer is not whole (`finish_reason` "length").
    note: str | None = None

    @property
    def truncated(self) -> bool:
        """The answer was cut off at the output limit: it must not be taken for a whole one."""
        return self.finish_reason == FINISH_LENGTH


class ErrorEvent(_Event):
    """The run ended with a classified error. Always the last event of a failed run.

    `partial` is true when tokens had already been sent: the answer shown so far
    is incomplete and must not be taken for a whole one.
    """

    type: Literal["error"] = "error"
    error: ErrorInfo
    partial: bool = False
    fallback: str | None = None


RunEvent = Annotated[
    TokenEvent | ToolStartEvent | ToolEndEvent | CitationsEvent | DoneEvent | ErrorEvent,
    Field(discriminator="type"),
]
TERMINAL_EVENT_TYPES = frozenset({"done", "error"})

_run_event_adapter: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)


def parse_run_event(raw: bytes | str) -> RunEvent:
    return _run_event_adapter.validate_json(raw)


def run_event_from(fields: dict[str, Any]) -> RunEvent:
    """A run event from its fields, decoded already (JSON's types)."""
    return _run_event_adapter.validate_python(fields)


def is_terminal(event: RunEvent) -> bool:
    return event.type in TERMINAL_EVENT_TYPES
