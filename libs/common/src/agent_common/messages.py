"""Messages on the Kafka topics. Every service builds and reads these models;
nobody hand-builds a dict for the wire.

Each message carries `schema_version`, so a consumer can refuse (dead-letter) a
version it does not know instead of misreading it, and `message_id`, so a
handler can recognise a redelivery.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from agent_common.errors import ErrorInfo
from agent_common.ids import new_id


class BusMessage(BaseModel):
    """What every message on the bus has in common: ids for idempotency and tracing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: ClassVar[str]

    schema_version: Literal[1] = 1
    message_id: str = Field(default_factory=new_id)
    request_id: str
    session_id: str
    user_id: str
    created_at: float = Field(default_factory=time.time)

    def partition_key(self) -> str:
        """Messages with the same key stay in order on one partition."""
        return self.request_id

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class ChatRequested(BusMessage):
    """A user's turn, published by the gateway, consumed by the orchestrator."""

    topic: ClassVar[str] = "chat.requests"
    kind: Literal["chat.requested"] = "chat.requested"

    message: str
    locale: str | None = None
    # Absolute wall-clock deadline (epoch seconds): past it, nobody is waiting for the answer.
    deadline_at: float

    def partition_key(self) -> str:
        # One session's turns stay in order: they land on the same partition.
        return self.session_id


class ToolCallRequested(BusMessage):
    """The model asked for a tool; the orchestrator hands the call to a tool runner."""

    topic: ClassVar[str] = "tool.calls"
    kind: Literal["tool.call_requested"] = "tool.call_requested"

    call_id: str
    tool: str
    arguments: dict[str, Any]
    deadline_at: float


class ToolOutcome(BaseModel):
    """What a tool call produced: an output for the model, or a classified error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool
    output: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    duration_ms: float = 0.0

    def for_model(self) -> str:
        """The tool message content the model reads: JSON it can reason about, the error's
        details included (which fields failed and why), so the model can correct its call."""
        body: dict[str, Any] = {"ok": self.ok, **self.output}
        if self.error is not None:
            body["error"] = self.error.model_dump(mode="json")
        return orjson.dumps(body).decode()


class ToolCallCompleted(BusMessage):
    """A tool runner's answer to one `ToolCallRequested`."""

    topic: ClassVar[str] = "tool.results"
    kind: Literal["tool.call_completed"] = "tool.call_completed"

    call_id: str
    tool: str
    outcome: ToolOutcome


class DeadLetter(BaseModel):
    """A message no handler could take, with why: parked on `dead.letters` so the
    consumer goes on. Not a `BusMessage`: what it carries may have no ids at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: ClassVar[str] = "dead.letters"

    schema_version: Literal[1] = 1
    message_id: str = Field(default_factory=new_id)
    source_topic: str
    reason: Literal["undecodable", "invalid", "handler_failed"]
    error: str
    """What went wrong, for a person: the parse or validation error, or the handler's last exception."""
    attempts: int
    payload: str
    """The message as it came, as text (`payload_encoding: utf-8`) or base64 when it is not UTF-8."""
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    request_id: str | None = None
    """The request it belonged to, when it could be read."""
    failed_at: float = Field(default_factory=time.time)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))
