"""One run's usage, as the ledger keeps it: who asked, which model calls it took (each
retry its own line, so a retried call's cost shows), the tools it ran, and how it ended.

The orchestrator builds one `UsageEntry` per run when the run ends and publishes it as a
`UsageRecorded` on `usage.entries`; the ledger writer (`usage/writer.py`) stores it once
per request id and then tells the budgets what it cost (`SpendRecorder`).
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Awaitable
from typing import ClassVar, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from agent_common.messages import BusMessage
from agent_common.topics import USAGE_ENTRIES

ModelRole = Literal["primary", "secondary"]


class ModelCallUsage(BaseModel):
    """One call to a model endpoint: an attempt that answered, or one that failed and was retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    role: ModelRole = "primary"
    step: int = Field(default=1, ge=1)
    """The run's model step this call belongs to (1 is the first)."""
    attempt: int = Field(default=1, ge=1)
    """1 for the step's first call on this endpoint; 2 and up are retries."""
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    estimated: bool = False
    """True when the provider sent no `usage` and the platform counted (`agent_common.token_estimate`)."""
    error: str | None = None
    """The error code of a call that failed (then retried, moved to the secondary, or ending the run)."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ToolCallUsage(BaseModel):
    """A tool call of the run and how it went (`error`: its error code when it failed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    ok: bool
    error: str | None = None


class UsageEntry(BaseModel):
    """What one run used. `at` is when it ended (UTC): the price valid on its date applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    tenant: str
    user_id: str
    session_id: str
    api_key_id: str | None = None
    at: AwareDatetime
    model_calls: list[ModelCallUsage] = Field(default_factory=list)
    tool_calls: list[ToolCallUsage] = Field(default_factory=list)
    retrieval: bool = False
    """Whether the run searched the documents before its first model call."""
    steps: int = Field(default=0, ge=0)
    duration_s: float = Field(default=0.0, ge=0)
    outcome: Literal["done", "error"] = "done"
    error_code: str | None = None

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.model_calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.model_calls)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def month(self) -> str:
        """`YYYY-MM` of `at` in UTC: the month the report counts it in."""
        return self.at.astimezone(datetime.UTC).strftime("%Y-%m")


class UsageRecorded(BusMessage):
    """A run's usage entry on its way to the ledger (`usage.entries`), keyed by request id."""

    topic: ClassVar[str] = USAGE_ENTRIES.name
    kind: Literal["usage.recorded"] = "usage.recorded"

    entry: UsageEntry

    @classmethod
    def of(cls, entry: UsageEntry) -> UsageRecorded:
        return cls(request_id=entry.request_id, session_id=entry.session_id, user_id=entry.user_id, entry=entry)


class SpendRecorder(Protocol):
    """Told once per stored entry what the run cost (the budgets count it against the tenant and key)."""

    def __call__(
        self,
        *,
        request_id: str,
        tenant: str,
        key_id: str | None,
        tokens: int,
        cost: decimal.Decimal,
        at: datetime.datetime,
    ) -> Awaitable[None]: ...


async def record_no_spend(
    *,
    request_id: str,
    tenant: str,
    key_id: str | None,
    tokens: int,
    cost: decimal.Decimal,
    at: datetime.datetime,
) -> None:
    """The `SpendRecorder` of a platform without budgets: nothing to count."""
