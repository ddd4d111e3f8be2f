"""A run's usage entry: built from its state when the run ends, and sent to `usage.entries`
just before its ending (`done` or `error`) is published.

Each model call of the run is one line of the entry, recorded as the step that made it
returns (so the lines travel with the run's saved state to whichever replica continues
it): the call that answered with the provider's `usage`, or an estimate when none came;
every call that failed before it (a retry's cost shows); and, when the step fails, the
call that failed it. A call that failed before the provider read the prompt (busy,
unreachable, refused) costs nothing; one that failed later (no first token, cut off,
unreadable) is counted at the estimate of its prompt and of the text it had streamed.

Before the ending, so that a replica that dies between the two loses no entry: until its
ending is published the run is not over, and the replica that takes it over ends it and sends
an entry again, under the same request id, which the ledger stores once (the first, which has
the dead replica's calls). The ending waits for the bus's acknowledgement at most
`ORCHESTRATOR_USAGE_ENTRY_WAIT_S` (a Kafka round trip, a few milliseconds): a broker away must
not hold the answer, so past it the entry goes on in a task of its own, and only then can a
replica that dies lose it. The tasks still out when the orchestrator stops are awaited
(bounded) before the bus goes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Sequence

from agent_common.bus import Bus
from agent_common.errors import ErrorCode
from agent_common.messages import DEFAULT_TENANT
from agent_common.token_estimate import estimate_tokens
from agent_common.usage import ModelCallUsage, ModelRole, ToolCallUsage, UsageEntry, UsageRecorded
from agent_orchestrator.context_window import prompt_tokens
from agent_orchestrator.conversation import ChatMessage, ToolDefinition
from agent_orchestrator.model_stream import FailedAttempt, ModelTurn
from agent_orchestrator.run_state import RunState

log = logging.getLogger("agent.orchestrator.usage")

# Failures that come after the provider has read the prompt: it is billed.
PROMPT_READ = frozenset(
    {ErrorCode.MODEL_TIMEOUT, ErrorCode.MODEL_STREAM_INTERRUPTED, ErrorCode.MODEL_BAD_RESPONSE, ErrorCode.RUN_ABANDONED}
)


def answered_calls(
    turn: ModelTurn, messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition], step: int
) -> list[ModelCallUsage]:
    """The lines of a step that got its answer: the calls that failed before, then the one that answered."""
    lines = [_failed(f, messages, tools, step, "") for f in turn.failed_attempts]
    if turn.usage_reported:
        prompt, completion, estimated = turn.usage.prompt_tokens, turn.usage.completion_tokens, False
    else:
        answer = turn.text + "".join(c.name + c.arguments_json for c in turn.tool_calls)
        prompt, completion, estimated = prompt_tokens(messages, tools), estimate_tokens(answer), True
    lines.append(
        ModelCallUsage(
            model=turn.model,
            role=_role(turn.role),
            step=step,
            attempt=turn.attempt,
            prompt_tokens=prompt,
            completion_tokens=completion,
            estimated=estimated,
        )
    )
    return lines


def failed_calls(
    attempts: Sequence[FailedAttempt],
    error: ErrorCode,
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolDefinition],
    step: int,
    streamed: str,
) -> list[ModelCallUsage]:
    """The lines of a step that failed with `error`: its failed calls, the last one charged the
    text it had streamed. A step stopped from outside the model (nobody listening, an outage)
    is one more line for the call it stopped, on `model`, when that call had cost anything;
    a call never sent (the breaker open) is none."""
    stopped_outside = not attempts or attempts[-1].error != error.value
    if stopped_outside and (streamed or error in PROMPT_READ):
        attempts = [*attempts, FailedAttempt(model, "primary", 1, error.value)]
    if not attempts:
        return []
    last = len(attempts) - 1
    return [_failed(a, messages, tools, step, streamed if i == last else "") for i, a in enumerate(attempts)]


def _failed(
    attempt: FailedAttempt,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolDefinition],
    step: int,
    streamed: str,
) -> ModelCallUsage:
    read = attempt.error in PROMPT_READ or bool(streamed)
    return ModelCallUsage(
        model=attempt.model,
        role=_role(attempt.role),
        step=step,
        attempt=attempt.attempt,
        prompt_tokens=prompt_tokens(messages, tools) if read else 0,
        completion_tokens=estimate_tokens(streamed),
        estimated=True,
        error=attempt.error,
    )


def _role(role: str) -> ModelRole:
    return "secondary" if role == "secondary" else "primary"


def usage_entry(state: RunState, *, error: ErrorCode | None = None, ended_at: float | None = None) -> UsageEntry:
    """The entry of a run that ended now: `done`, or `error` with its code."""
    ended_at = time.time() if ended_at is None else ended_at
    started_at = state.started_at if state.started_at is not None else ended_at
    return UsageEntry(
        request_id=state.request_id,
        tenant=state.tenant or DEFAULT_TENANT,
        user_id=state.user_id,
        session_id=state.session_id,
        api_key_id=state.key_id,
        at=datetime.datetime.fromtimestamp(ended_at, datetime.UTC),
        model_calls=list(state.model_calls or []),
        tool_calls=[
            ToolCallUsage(tool=c.tool, ok=c.ok, error=c.error.code.value if c.error else None) for c in state.tool_calls
        ],
        retrieval=state.retrieval is not None,
        steps=state.step,
        duration_s=max(ended_at - started_at, 0.0),
        outcome="done" if error is None else "error",
        error_code=None if error is None else error.value,
    )


class UsagePublisher:
    """Sends usage entries to `usage.entries` in tasks of their own, waiting for each at most
    `wait_s` (the bus rides through a broker outage; the run's ending must not wait for that)."""

    def __init__(self, bus: Bus, wait_s: float = 1.0) -> None:
        self._bus = bus
        self._wait_s = wait_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, entry: UsageEntry) -> None:
        """Send `entry`; return once the bus has it, or after `wait_s` with the send still going on."""
        task = asyncio.create_task(self._send(entry), name=f"usage:{entry.request_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._wait_s > 0:
            await asyncio.wait({task}, timeout=self._wait_s)  # never cancels it: the send goes on

    async def _send(self, entry: UsageEntry) -> None:
        try:
            await self._bus.publish(UsageRecorded.of(entry))
        except Exception:
            # The run has ended and its client has its answer; only the ledger misses the entry.
            log.exception("usage entry not published", extra={"request_id": entry.request_id})

    async def drain(self, timeout_s: float) -> None:
        """Wait for the entries still being sent, at most `timeout_s`; those left are logged."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            log.error("usage entry not published before shutdown", extra={"task": task.get_name()})
            task.cancel()
