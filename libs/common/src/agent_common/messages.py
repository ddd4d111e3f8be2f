"""Messages on the Kafka topics. Every service builds and reads these models;
nobody hand-builds a dict for the wire.

Each message carries `schema_version`, so a consumer can refuse (dead-letter) a
version it does not know instead of misreading it, and `message_id`, so a
handler can recognise a redelivery.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from agent_common.errors import ErrorInfo
from agent_common.ids import new_id

# The tenant of a caller whose credential names none (the embedded default's anonymous
# caller, a JWT without the tenant claim), and of messages from before tenants were carried.
DEFAULT_TENANT = "default"


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
    # The caller's tenant, for its limits (the output cap). Optional: older messages have none.
    tenant: str | None = None
    # The caller's API key id (None for a JWT or anonymous caller), for the usage ledger and the key's budget.
    key_id: str | None = None

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


class InlineDocument(BaseModel):
    """A document handed over in the command itself rather than as a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Stable identity within the source: the same id with new text is a new version.
    doc_id: str = Field(min_length=1, max_length=512)
    text: str
    title: str | None = None
    # `text`, `markdown` or `html`: how `text` is read.
    format: Literal["text", "markdown", "html"] = "text"
    version: str | None = None
    last_updated: str | None = None
    language: str | None = None


class ReindexSource(BaseModel):
    """What to index: inline documents, or files and folders the indexer can read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Names the set of documents: an incremental reindex deletes this source's
    # documents that are gone, and leaves every other source's alone.
    name: str = Field(min_length=1, max_length=200)
    paths: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = Field(default_factory=list)
    documents: list[InlineDocument] = Field(default_factory=list)

    @field_validator("paths")
    @classmethod
    def _no_nul(cls, paths: list[str]) -> list[str]:
        # No file name holds one, and the OS calls that would look it up refuse it.
        if any("\x00" in p for p in paths):
            raise ValueError("a path must not contain NUL characters")
        return paths


# `remove` takes documents out of the live index without reading any file.
ReindexMode = Literal["full", "incremental", "remove"]


class ReindexRequested(BusMessage):
    """Reindex one source. `incremental` updates the live index in place (unchanged
    documents skipped, removed ones deleted); `full` builds a new index version beside
    the live one and switches readers over when it is complete; `remove` deletes from the
    live index the documents indexed from `source.paths` (a file, or everything under a
    folder, whichever source indexed it), or, with no paths, every document of the source."""

    topic: ClassVar[str] = "rag.reindex"
    kind: Literal["rag.reindex_requested"] = "rag.reindex_requested"

    source: ReindexSource
    mode: ReindexMode = "incremental"
    # The tenant of the key that sent it: the documents it indexes (or removes) are that
    # tenant's, retrieved for its callers only. Older commands have none: the default tenant's.
    tenant: str = DEFAULT_TENANT

    def partition_key(self) -> str:
        # One index's commands run in order (there is one index per platform).
        return "index"


class ReindexFailure(BaseModel):
    """A document that could not be indexed, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document: str
    error: ErrorInfo


class ReindexCounts(BaseModel):
    """How far a reindex got."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Documents found in the source (known once it has been read).
    total: int = 0
    seen: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_written: int = 0
    failed: int = 0


class ReindexStatus(BusMessage):
    """Progress and outcome of one reindex command (`request_id` is the command's)."""

    topic: ClassVar[str] = "rag.status"
    kind: Literal["rag.reindex_status"] = "rag.reindex_status"

    # `accepted`: published by the gateway as it puts the command on `rag.reindex` (it may
    # wait there behind another command); the rest by the indexer that runs it.
    state: Literal["accepted", "started", "progress", "done", "failed"]
    mode: ReindexMode
    source: str
    counts: ReindexCounts = Field(default_factory=ReindexCounts)
    failures: list[ReindexFailure] = Field(default_factory=list)
    # The index version readers use once this command is over.
    index_version: str | None = None
    # Why the whole command failed (`state: failed`), else null.
    error: ErrorInfo | None = None
    elapsed_s: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.state in ("done", "failed")


# Why a message was dead-lettered: not JSON, failing its schema, or its handler raising (not for an outage).
DeadLetterReason = Literal["undecodable", "invalid", "handler_failed"]


class DeadLetter(BaseModel):
    """A message no handler could take, with why: parked on `dead.letters` so the
    consumer goes on. Not a `BusMessage`: what it carries may have no ids at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: ClassVar[str] = "dead.letters"

    schema_version: Literal[1] = 1
    message_id: str = Field(default_factory=new_id)
    source_topic: str
    reason: DeadLetterReason
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
