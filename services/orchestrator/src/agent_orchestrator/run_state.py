"""A run's state between steps, and how the orchestrator keeps it in the run store.

It lives in the run store (`agent_common.run_store`), never only in a replica's
memory, so whichever replica receives a tool result can continue the run.
`SavedRuns` reads and writes it over the store's JSON strings, kept until a while
past the run's deadline.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_common.events import Citation, RetrievalSummary, ToolCallRecord, ToolEndEvent, Usage
from agent_common.messages import ChatRequested, ToolOutcome
from agent_common.run_store import RunStates
from agent_common.usage import ModelCallUsage
from agent_orchestrator.conversation import ChatMessage

log = logging.getLogger("agent.orchestrator.runs")


# Fields added after states were first saved are written only when set: a state saved while a
# rolling deploy is under way stays readable by the replicas still on the version before (extra="forbid").
_ADDED_LATER: Any = Field(default=None, exclude_if=lambda value: value is None)


class PendingCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str
    tool: str
    arguments: dict[str, Any]

    def ended(self, request_id: str, outcome: ToolOutcome) -> ToolEndEvent:
        """The `tool_end` event that tells the client how this call went."""
        if outcome.ok:
            status = outcome.output.get("status")
            summary = f"HTTP {status}" if status is not None else "ok"
        else:
            summary = outcome.error.message if outcome.error else "failed"
        return ToolEndEvent(
            request_id=request_id,
            call_id=self.call_id,
            tool=self.tool,
            ok=outcome.ok,
            error=outcome.error,
            summary=summary,
            duration_ms=outcome.duration_ms,
        )


class RunState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    session_id: str
    user_id: str
    user_message: str
    locale: str | None = None
    # The caller's tenant, whose output cap applies (None: the model's cap alone).
    tenant: str | None = _ADDED_LATER
    # The caller's API key, whose budget the run's spend counts against (None: not a key's).
    key_id: str | None = _ADDED_LATER
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
    # How the question fared against the documents, for `done` (None: nothing searched).
    retrieval: RetrievalSummary | None = _ADDED_LATER
    # Why the run's last model call stopped ("stop", "length", "tool_calls"...).
    finish_reason: str | None = _ADDED_LATER
    # Since when (epoch seconds) nobody has received the run's events; None while someone does.
    unheard_since: float | None = _ADDED_LATER
    # When the gateway accepted the turn (epoch seconds), for the usage entry's duration.
    started_at: float | None = _ADDED_LATER
    # Every model call so far, one line each (retries apart), for the usage entry (`usage_record.py`).
    model_calls: list[ModelCallUsage] | None = _ADDED_LATER

    @classmethod
    def for_request(cls, msg: ChatRequested, messages: list[ChatMessage] | None = None, answer: str = "") -> RunState:
        """A run's state as a chat request starts it (or as a redelivery finds it)."""
        return cls(
            request_id=msg.request_id,
            session_id=msg.session_id,
            user_id=msg.user_id,
            user_message=msg.message,
            locale=msg.locale,
            tenant=msg.tenant,
            key_id=msg.key_id,
            deadline_at=msg.deadline_at,
            started_at=msg.created_at,
            messages=messages or [],
            answer=answer,
        )


class SavedRuns:
    def __init__(self, states: RunStates, keep_after_deadline_s: float) -> None:
        self._states = states
        self._keep_after_deadline_s = keep_after_deadline_s

    def ttl_s(self, state: RunState) -> float:
        """How long a run's state (and its tool results) are kept: past its deadline, nobody waits for it."""
        return max(state.deadline_at - time.time(), 0) + self._keep_after_deadline_s

    async def save(self, state: RunState) -> None:
        await self._states.save(state.request_id, state.model_dump_json(), self.ttl_s(state))

    async def load(self, request_id: str) -> RunState | None:
        raw = await self._states.load(request_id)
        if raw is None:
            return None
        try:
            return RunState.model_validate_json(raw)
        except ValidationError:
            log.error("unreadable run state; treating the run as gone", extra={"request_id": request_id})
            return None

    async def delete(self, request_id: str) -> None:
        await self._states.delete(request_id)
