"""The agent loop: a run advances one model call at a time.

A run starts from a `ChatRequested`: the session's history and the question make
the prompt, and retrieval may put passages of the user's documents in it (or, for
a documents-only caller, answer on its own when they do not cover the question). Each step then streams
one model call, its text going to the client as `token` events as it comes. A
step that asks for tools dispatches them over the bus and saves the run's state
in the run store; their results continue the run (`continue_after_tools`) at
whichever replica gets the last of them. A run ends with exactly one `done` or
`error` event (`agent_common.run_events.endings`).

The loop knows nothing of who runs it: claims, leases and takeovers wrap it
from outside (`ownership/`).

Redis going away for a moment costs a run nothing: every Redis call rides through
an outage shorter than `REDIS_RIDE_THROUGH_S` (the pool's, `agent_common.transports`).
A longer one fails the call with `OutageTooLong`, and the run with it, as
`redis_unavailable`; that ending itself waits for Redis to come back (for as long as
the run's state is kept), so a client that reconnects is replayed how the run
really ended, and no other replica takes it for a dead one's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

import orjson

from agent_common.bus import Bus
from agent_common.error_metrics import record_error
from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.events import FINISH_LENGTH, CitationsEvent, DoneEvent, TokenEvent, ToolCallRecord, ToolStartEvent
from agent_common.fallback import finish_note, language_of
from agent_common.messages import ChatRequested, ToolCallRequested, ToolOutcome
from agent_common.resilience import Outage, OutageTooLong, outage_of, ride_through
from agent_common.run_events import RunEventChannel, end_run, failure
from agent_common.run_store import ToolDeadlines
from agent_common.sessions import SessionStore, Turn
from agent_common.tools import TOOL_SPECS, ToolSpec
from agent_orchestrator import metrics
from agent_orchestrator.answer_links import AnswerLinks
from agent_orchestrator.audience import check_audience
from agent_orchestrator.conversation import AssistantMessage, ToolDefinition, build_messages, tool_definition
from agent_orchestrator.model_stream import ChatModel, ModelTurn
from agent_orchestrator.retrieval import FALLBACK_MODEL, Retriever, cited, ground
from agent_orchestrator.run_state import PendingCall, RunState, SavedRuns
from agent_orchestrator.settings import OrchestratorSettings
from agent_orchestrator.token_stream import token_stream
from agent_orchestrator.tool_call_limits import ToolCallLimits, dispatched_so_far
from agent_orchestrator.usage_record import UsagePublisher, answered_calls, failed_calls, usage_entry

log = logging.getLogger("agent.orchestrator")

LOGGED_TEXT_CHARS = 2000  # with ORCHESTRATOR_LOG_PROMPTS: enough to debug a turn, bounded per line
# Finish reasons as metrics label them; anything else a server says counts as `other`.
KNOWN_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})


class StepOutcome(StrEnum):
    """Where a step left its run."""

    ENDED = "ended"  # `done` or `error` was published: the session's next turn may start
    AWAITING_TOOLS = "awaiting_tools"  # its state is saved; the tools' results continue it


@dataclass(frozen=True)
class RunOpening:
    """What a run reads before its first step: its session's history, and how many listeners
    hear its events (`audience.py`). Two reads at once, and at once with the takeover check
    (`ownership/`): one round trip to Redis where they were four in a row."""

    history: list[Turn]
    audience: int


class AgentLoop:
    def __init__(
        self,
        *,
        bus: Bus,
        events: RunEventChannel,
        sessions: SessionStore,
        saved: SavedRuns,
        deadlines: ToolDeadlines,
        model: ChatModel,
        settings: OrchestratorSettings,
        tools: Mapping[str, ToolSpec] = TOOL_SPECS,
        retriever: Retriever | None = None,
        link_hosts: Sequence[str] = (),
    ) -> None:
        self._bus = bus
        self._events = events
        self._sessions = sessions
        self._saved = saved
        self._deadlines = deadlines
        self._model = model
        self._settings = settings
        self._tools = dict(tools)
        self._tool_definitions = self.openai_tools(self._tools)
        self._retriever = retriever
        self._link_hosts = list(link_hosts)  # links and images in answers may point there (`answer_links.py`)
        # Each run's usage entry, sent just before the run's ending (`usage_record.py`).
        self.usage = UsagePublisher(bus, settings.usage_entry_wait_s)

    @staticmethod
    def openai_tools(specs: Mapping[str, ToolSpec]) -> list[ToolDefinition]:
        """The `tools` of a chat-completions request: each spec's own schema object, in name order."""
        return [tool_definition(specs[name]) for name in sorted(specs)]

    @property
    def _limits(self) -> ToolCallLimits:
        return ToolCallLimits(self._settings.max_tool_calls_per_step, self._settings.max_tool_calls_per_turn)

    async def read_opening(self, msg: ChatRequested) -> RunOpening:
        history, audience = await asyncio.gather(
            self._sessions.history(msg.session_id), self._events.audience(msg.request_id)
        )
        return RunOpening(history, audience)

    async def start(self, msg: ChatRequested, opening: Awaitable[RunOpening] | None = None) -> StepOutcome:
        """Start a run: its prompt, its documents, its first step. `opening`: `read_opening(msg)`,
        already under way."""
        state = RunState.for_request(msg)
        try:
            begun = await (opening if opening is not None else self.read_opening(msg))
            state.messages = build_messages(
                self._settings.system_prompt, begun.history, msg.message, self._settings.prompt_history_tokens
            )
            log.info("run started", extra={"history_turns": len(begun.history), **self._text("prompt", msg.message)})
            if self._retriever is not None:
                grounding = await ground(self._retriever, msg.message, msg.locale, msg.tenant)
                state.retrieval = grounding.summary
                if grounding.fallback is not None:  # documents-only, and they do not cover it: the platform answers
                    await self._publish_text(state, grounding.fallback)
                    await self._finish(state, FALLBACK_MODEL)
                    return StepOutcome.ENDED
                if grounding.context is not None:  # the passages go just before the question
                    state.messages.insert(len(state.messages) - 1, {"role": "system", "content": grounding.context})
                    state.citations = grounding.citations
                    await self._events.publish(CitationsEvent(request_id=state.request_id, citations=state.citations))
        except OutageTooLong as exc:  # Redis away too long before the first step: the run ends here
            await self.fail(state, exc.info)
            return StepOutcome.ENDED
        return await self.advance(state, audience=begun.audience)

    async def continue_after_tools(self, state: RunState, results: Mapping[str, ToolOutcome]) -> StepOutcome:
        """The run's next step, the outcomes of its tools (by call id) in the conversation."""
        for call in state.pending:
            outcome = results[call.call_id]
            state.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": outcome.for_model()})
            state.tool_calls.append(
                ToolCallRecord(
                    call_id=call.call_id, tool=call.tool, arguments=call.arguments, ok=outcome.ok, error=outcome.error
                )
            )
        state.pending = []
        return await self.advance(state)

    async def advance(self, state: RunState, *, audience: int | None = None) -> StepOutcome:
        """Model calls until the run finishes, fails, or waits for the tools it asked for.
        `audience`: the run's listeners, read just before (else the first step asks)."""
        try:
            while not await self._step(state, audience):
                audience = None  # every call of the step was refused: their errors are the next step's input
            return StepOutcome.AWAITING_TOOLS if state.pending else StepOutcome.ENDED
        except PlatformError as exc:
            await self.fail(state, exc.info)
        except Exception as exc:
            if (outage := outage_of(exc)) is not None:  # one that did not ride through (no free connection, say)
                log.warning("run failed: %s unreachable", outage.value, exc_info=True)
                await self.fail(state, ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, str(exc), reason=outage.reason))
                return StepOutcome.ENDED
            log.exception("run failed unexpectedly")
            await self.fail(state, ErrorInfo.of(ErrorCode.INTERNAL, "Something went wrong on our side."))
        return StepOutcome.ENDED

    async def _step(self, state: RunState, audience: int | None = None) -> bool:
        """One model call; False when the run must go on at once (no call of it could be dispatched)."""
        if state.step >= self._settings.max_steps:
            raise PlatformError(ErrorCode.MODEL_STEP_LIMIT, "The model kept asking for tools; the run was stopped.")
        if state.deadline_at <= time.time():
            # Out of time before the model was even called (a backlog after an outage, slow tools):
            # the platform's delay, never the model's failure, so it must not count against its breaker.
            raise PlatformError(
                ErrorCode.INFRA_TIMEOUT, "The request ran out of time before the model was called.", reason="expired"
            )
        max_tokens = self._output_left(state)
        if max_tokens is not None and max_tokens <= 0:  # earlier steps used the run's whole cap
            state.finish_reason = FINISH_LENGTH
            await self._finish(state, self._model.model)
            return True
        await check_audience(self._events, state, self._settings.resume_window_s, audience)
        state.step += 1
        turn = await self._call_model(state, max_tokens)
        state.usage = state.usage + turn.usage
        state.finish_reason = turn.finish_reason
        if turn.tool_calls:
            return await self._dispatch_tools(state, turn)
        await self._finish(state, turn.model)
        return True

    async def fail(self, state: RunState, error: ErrorInfo) -> None:
        """End the run with `error`: partial when the client saw part of an answer already.

        Redis away (the run may be failing for that very reason): the ending is tried again
        until Redis is back, for as long as the run's state is kept. Meanwhile the run's
        lease is still this replica's (its renewal keeps trying), so no other replica takes
        the run over and ends it as lost."""
        language = language_of(state.user_message, state.locale)
        ending = failure(state.request_id, error, language, partial=bool(state.answer))
        await self.usage.publish(usage_entry(state, error=error.code))  # before the ending: none lost

        async def end() -> None:
            await end_run(self._events, ending)
            await self._saved.delete(state.request_id)

        await ride_through(end, self._saved.ttl_s(state), only=Outage.REDIS)
        metrics.RUNS.labels("error", error.error_class.value).inc()
        record_error(error, "run")
        log.warning("run failed", extra={"error_code": error.code.value, "error_class": error.error_class.value})

    def _output_left(self, state: RunState) -> int | None:
        """What is left of the run's output cap (the model's, or its tenant's if lower), or None: no cap."""
        caps = [self._model.max_output_tokens, self._settings.tenant_max_output_tokens.get(state.tenant or "")]
        cap = min((c for c in caps if c is not None), default=None)
        return None if cap is None else cap - state.usage.completion_tokens

    async def _call_model(self, state: RunState, max_tokens: int | None) -> ModelTurn:
        tools = self._tools_offered(state)
        streamed: list[str] = []  # the call's text so far: what a call that fails is charged for
        response: object = None
        try:
            # Text that comes while a token is being published goes out with the next one (`token_stream.py`).
            async with (
                token_stream(partial(self._publish_text, state)) as tokens,
                self._model.stream(state.messages, tools, state.deadline_at, max_tokens=max_tokens) as response,
            ):
                # Links and images to untrusted hosts are made inert before anyone sees or stores them.
                links = AnswerLinks(self._link_hosts)
                async for delta in response:
                    streamed.append(delta.text)
                    if shown := links.feed(delta.text):
                        await tokens.send(shown)
                if rest := links.close():
                    await tokens.send(rest)
        except Exception as exc:
            code = exc.code if isinstance(exc, PlatformError) else ErrorCode.INTERNAL
            # A resilient model's stream keeps the calls that failed on the way; a bare one has none.
            attempts = getattr(response, "failed_attempts", [])
            calls = failed_calls(
                attempts, code, self._model.model, state.messages, tools, state.step, "".join(streamed)
            )
            state.model_calls = [*(state.model_calls or []), *calls]
            raise
        turn = response.turn()
        state.model_calls = [*(state.model_calls or []), *answered_calls(turn, state.messages, tools, state.step)]
        if turn.time_to_first_token_s is not None:
            metrics.MODEL_TTFT.labels(self._model.model).observe(turn.time_to_first_token_s)
        metrics.MODEL_TOKENS.labels(self._model.model, "input").inc(turn.usage.prompt_tokens)
        metrics.MODEL_TOKENS.labels(self._model.model, "output").inc(turn.usage.completion_tokens)
        reason = turn.finish_reason if turn.finish_reason in KNOWN_FINISH_REASONS else "other"
        metrics.MODEL_FINISHES.labels(self._model.model, reason).inc()
        return turn

    async def _publish_text(self, state: RunState, text: str) -> None:
        await self._events.publish(TokenEvent(request_id=state.request_id, text=text))
        # What the client has seen so far: a failure after this point is partial.
        state.answer += text
        # Nobody listening for the resume window: this raises, which stops the model call.
        await check_audience(self._events, state, self._settings.resume_window_s)

    def _tools_offered(self, state: RunState) -> list[ToolDefinition]:
        """The tools the model may call this step: none once the turn has used its tool calls."""
        return self._tool_definitions if self._limits.offers_tools(dispatched_so_far(state.tool_calls)) else []

    async def _dispatch_tools(self, state: RunState, turn: ModelTurn) -> bool:
        """Dispatch the step's calls up to the caps, the rest refused; False when none went out."""
        assistant: AssistantMessage = {
            "role": "assistant",
            "content": turn.text or None,
            "tool_calls": [
                {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in turn.tool_calls
            ],
        }
        state.messages.append(assistant)
        calls = [
            PendingCall(call_id=c.call_id, tool=c.name, arguments=_parse_arguments(c.arguments_json))
            for c in turn.tool_calls
        ]
        dispatched = dispatched_so_far(state.tool_calls)
        room = self._limits.room(dispatched)
        state.pending = calls[:room]
        # Refused calls get their result at once: every call the model made must have one.
        refusal = self._limits.refusal(dispatched)
        for call in calls[room:]:
            state.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": refusal.for_model()})
            state.tool_calls.append(
                ToolCallRecord(
                    call_id=call.call_id, tool=call.tool, arguments=call.arguments, ok=False, error=refusal.error
                )
            )
        if len(calls) > room:
            scope = str(refusal.error.details["scope"]) if refusal.error else "step"
            metrics.TOOL_CALLS_REFUSED.labels(scope).inc(len(calls) - room)
            log.warning("tool calls past the cap refused", extra={"asked": len(calls), "dispatched": room})
        if state.pending:
            # State first: a result may arrive at another replica before this one returns.
            await self._saved.save(state)
            # Results that never come become timeouts (`ownership/deadlines.py`), so the run always goes on.
            due_at = min(time.time() + self._settings.tool_result_timeout_s, state.deadline_at)
            await self._deadlines.schedule(state.request_id, state.step, due_at)
        for index, call in enumerate(calls):
            await self._events.publish(
                ToolStartEvent(
                    request_id=state.request_id, call_id=call.call_id, tool=call.tool, arguments=call.arguments
                )
            )
            if index >= room:
                await self._events.publish(call.ended(state.request_id, refusal))
                continue
            await self._bus.publish(
                ToolCallRequested(
                    request_id=state.request_id,
                    session_id=state.session_id,
                    user_id=state.user_id,
                    call_id=call.call_id,
                    tool=call.tool,
                    arguments=call.arguments,
                    deadline_at=state.deadline_at,
                )
            )
        log.info("tools dispatched", extra={"tools": [c.tool for c in state.pending], "step": state.step})
        return bool(state.pending)

    async def _finish(self, state: RunState, model: str) -> None:
        # A cut-off answer is stored as such: the next prompt tells the model it is incomplete.
        await self._sessions.append(
            state.session_id,
            Turn.of(
                state.request_id, user=state.user_message, assistant=state.answer, finish_reason=state.finish_reason
            ),
        )
        done = DoneEvent(
            request_id=state.request_id,
            session_id=state.session_id,
            answer=state.answer,
            model=model,
            tool_calls=state.tool_calls,
            usage=state.usage,
            citations=cited(state.answer, state.citations),  # every passage retrieved went in `citations`
            retrieval=state.retrieval,
            finish_reason=state.finish_reason,
            note=finish_note(state.finish_reason, language_of(state.user_message, state.locale)),
        )
        await self.usage.publish(usage_entry(state))  # before the ending: a replica dying in between loses none
        await end_run(self._events, done)
        await self._saved.delete(state.request_id)
        metrics.RUNS.labels("done", "").inc()
        log.info(
            "run done",
            extra={
                "steps": state.step,
                "tool_calls": len(state.tool_calls),
                "finish_reason": state.finish_reason,
                **self._text("answer", state.answer),
            },
        )

    def _text(self, field: str, text: str) -> dict[str, str]:
        """What users wrote or were answered, for the log only when the deployment asks for it."""
        return {field: text[:LOGGED_TEXT_CHARS]} if self._settings.log_prompts else {}


def _parse_arguments(arguments_json: str) -> dict[str, Any]:
    """Tool arguments as the model wrote them. Malformed JSON is passed on as-is
    under `_raw`, so the tool runner's schema check reports it to the model."""
    try:
        value = orjson.loads(arguments_json or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": arguments_json}
    return value if isinstance(value, dict) else {"_raw": arguments_json}
