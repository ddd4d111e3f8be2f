"""What a model call gives the agent loop: a stream of text deltas it iterates, then the
assembled turn (text, tool calls, finish reason, usage, model, time to first token).

    async with model.stream(messages, tools, deadline_at) as response:
        async for delta in response:
            ...  # each delta's text goes to the client as it comes
    turn = response.turn()

`ChatModel` is what the loop calls: one endpoint (`model_client.ModelClient`) or several
behind retries and breakers (`resilient_model.ResilientModel`); tests bring their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from agent_common.events import Usage
from agent_orchestrator.conversation import ChatMessage, ToolDefinition


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, as the model streamed it."""

    text: str


@dataclass
class ToolCallRequest:
    call_id: str
    name: str
    arguments_json: str


@dataclass(frozen=True)
class FailedAttempt:
    """A call to an endpoint that failed within a step (then retried, handed to the secondary,
    or failing the step): kept so that the usage ledger shows what retries cost."""

    model: str
    role: str  # "primary" or "secondary"
    attempt: int  # 1 for the endpoint's first call of the step
    error: str  # the error code


@dataclass
class ModelTurn:
    """What one model call produced."""

    text: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    # Whether the provider sent `usage` (else the ledger estimates the call's tokens).
    usage_reported: bool = False
    model: str = ""
    time_to_first_token_s: float | None = None
    # Which endpoint answered, its attempt number, and the calls that failed before it in this step.
    role: str = "primary"
    attempt: int = 1
    failed_attempts: list[FailedAttempt] = field(default_factory=list)


class ModelStream(Protocol):
    """One model call's answer as it streams; `turn()` once it has been read to its end."""

    def __aiter__(self) -> AsyncIterator[TextDelta]: ...

    def turn(self) -> ModelTurn: ...


class ChatModel(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def max_output_tokens(self) -> int | None:
        """The most one run's answer may be, in tokens, over all its calls (`MODEL_MAX_OUTPUT_TOKENS`)."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        deadline_at: float,
        *,
        max_tokens: int | None = None,
    ) -> AbstractAsyncContextManager[ModelStream]:
        """Call the model once, streaming; bounded by the run's `deadline_at` (epoch seconds), its answer
        by `max_tokens` (sent as such: the model stops there with finish reason `length`)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class StreamNotRead(RuntimeError):
    """`turn()` asked for before the stream was read to its end."""
