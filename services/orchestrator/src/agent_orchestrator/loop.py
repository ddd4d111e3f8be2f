"""The agent loop: a run advances one model call at a time.

A run starts when a `ChatRequested` arrives (handed off the consumer by
`handoff.py`, as is each step after tool results). Each step streams a model call;
text goes to the client as `token` events. If the model asks for tools, the
calls are dispatched over the bus and the step ends, with the run's state in
the run store. When the last tool result arrives (at whichever replica), the
run is loaded and the next step starts. A run ends with exactly one `done` or
`error` event, and only then does its session's next turn start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from agent_common.bus import Bus
from agent_common.error_metrics import record_error
from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.events import (
    DoneEvent,
    ErrorEvent,
    TokenEvent,
    ToolCallRecord,
    ToolEndEvent,
    ToolStartEvent,
    is_terminal,
)
from agent_common.fallback import fallback_message, language_of
from agent_common.logs import bind_ids
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.run_events import RunEventChannel
from agent_common.sessions import SessionStore, Turn
from agent_common.tools import TOOL_SPECS, ToolSpec
from agent_orchestrator import metrics
from agent_orchestrator.leases import HeldLease, LeaseLost
from agent_orchestrator.model_client import ChatModel, ModelTurn
from agent_orchestrator.prompt import build_messages
from agent_orchestrator.retrieval import FALLBACK_MODEL, Retriever, ground_run
from agent_orchestrator.runs import PendingCall, RunState, RunStore
from agent_orchestrator.settings import OrchestratorSettings
from agent_orchestrator.token_stream import token_stream

log = logging.getLogger("agent.orchestrator")

LOGGED_TEXT_CHARS = 2000  # with ORCHESTRATOR_LOG_PROMPTS: enough to debug a turn, bounded per line


class AgentLoop:
    def __init__(
        self,
        *,
        bus: Bus,
        events: RunEventChannel,
        sessions: SessionStore,
        runs: RunStore,
        model: ChatModel,
        settings: OrchestratorSettings,
        tools: Mapping[str, ToolSpec] = TOOL_SPECS,
        retriever: Retriever | None = None,
    ) -> None:
        self._bus = bus
        self._events = events
        self._sessions = sessions
        self._runs = runs
        self._model = model
        self._settings = settings
        self._tools = dict(tools)
        self._openai_tools = self.openai_tools(self._tools)
        self._retriever = retriever

    @staticmethod
    def openai_tools(specs: Mapping[str, ToolSpec]) -> list[dict[str, Any]]:
        """The `tools` of a chat-completions request: each spec's own schema object, in name order."""
        return [specs[name].as_openai_tool() for name in sorted(specs)]

    async def run(self, msg: ChatRequested, lease: HeldLease | None = None) -> None:
        """Run a chat request up to its end or its tool calls, under `lease` (`handoff.py`
        holds it). The request may have been started before, by a replica that died: what
        was done then decides what is left to do."""
        try:
            if await self._taken_over(msg):
                return
            history = await self._sessions.history(msg.session_id)
            state = RunState.for_request(
                msg, messages=build_messages(self._settings.system_prompt, history, msg.message)
            )
            log.info("run started", extra={"history_turns": len(history), **self._text("prompt", msg.message)})
            if self._retriever is not None and await ground_run(self._retriever, state, self._events):
                await self._finish(state, FALLBACK_MODEL)
                return
            await self._advance_guarded(state, lease)
        except LeaseLost:
            log.warning("run handed over to another replica")

    async def _taken_over(self, msg: ChatRequested) -> bool:
        """After another replica died on this request (or its run was cut off): continue what can be continued.

        Waiting for tools: the run lives in the run store and goes on when their
        results (or their deadline) arrive. Tokens already streamed: the answer
        cannot be taken back, so the run ends with an error that says it is
        incomplete. Nothing sent yet: the run starts afresh, and the user never knows.
        """
        if await self._runs.load(msg.request_id) is not None:
            log.warning("run taken over while waiting for its tools; leaving it to them")
            return True
        sent = await self._events.replay(msg.request_id)
        if not sent:
            return False
        if any(is_terminal(event) for event in sent):
            await self._runs.end_turn(msg.session_id, msg.request_id)  # it ended just before its replica died
            return True
        state = RunState.for_request(msg, answer="".join(e.text for e in sent if isinstance(e, TokenEvent)))
        log.warning("run taken over after it had streamed; ending it as incomplete", extra={"events": len(sent)})
        await self._fail(state, _worker_lost())
        return True

    async def record_tool_result(self, msg: ToolCallCompleted) -> RunState | None:
        """Record one tool result; the run's state when it was the step's last one (exactly one
        new result gets it, however results interleave; a redelivery of a complete step's
        result too): the claim of the next step then decides who takes the run on."""
        with bind_ids(request_id=msg.request_id, session_id=msg.session_id, user_id=msg.user_id):
            state = await self._runs.load(msg.request_id)
            if state is None:
                log.warning("tool result for an unknown or finished run", extra={"call_id": msg.call_id})
                return None
            pending = {call.call_id: call for call in state.pending}
            if msg.call_id not in pending:
                log.warning("tool result for a call the run is not waiting for", extra={"call_id": msg.call_id})
                return None
            is_new, completes = await self._runs.record_tool_result(
                msg.request_id,
                state.step,
                msg.call_id,
                msg.outcome.model_dump_json(),
                len(pending),
                self._state_ttl(state),
            )
            if not is_new:
                # A redelivery. When its step is complete, the replica that completed it may have
                # died before claiming the next step (its offset was never committed): the state
                # goes back to the caller, whose claim of the step says whether anyone has it.
                if len(await self._runs.tool_results(msg.request_id, state.step)) == len(pending):
                    log.info("redelivered tool result of a complete step", extra={"call_id": msg.call_id})
                    return state
                log.info("duplicate tool result ignored", extra={"call_id": msg.call_id})
                return None
            await self._events.publish(_tool_end_event(msg.request_id, pending[msg.call_id], msg.outcome))
            return state if completes else None

    async def resume_after_tools(self, state: RunState, lease: HeldLease | None = None) -> None:
        """The run's next step, its tool results in the conversation, under `lease` (`handoff.py`)."""
        results = await self._runs.tool_results(state.request_id, state.step)
        for call in state.pending:
            outcome = ToolOutcome.model_validate_json(results[call.call_id])
            state.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": outcome.for_model()})
            state.tool_calls.append(
                ToolCallRecord(
                    call_id=call.call_id, tool=call.tool, arguments=call.arguments, ok=outcome.ok, error=outcome.error
                )
            )
        state.pending = []
        try:
            await self._advance_guarded(state, lease)
        except LeaseLost:
            log.warning("run handed over to another replica")

    async def resume_taken_over(self, request_id: str, step: int, lease: HeldLease) -> None:
        """The step after `step`'s tool results, whose replica died in it: what it had streamed
        decides, as for a chat request (`_taken_over`)."""
        state = await self._runs.load(request_id)
        if state is None or state.step != step or not state.pending:
            return  # the run ended, or moved on to another step's tools
        with bind_ids(session_id=state.session_id, user_id=state.user_id):
            sent = await self._events.replay(request_id)
            if any(is_terminal(event) for event in sent):
                await self._runs.end_turn(state.session_id, request_id)
                return
            streamed = "".join(e.text for e in sent if isinstance(e, TokenEvent))
            if len(streamed) > len(state.answer):  # the step had started its answer: it cannot restart
                state.answer = streamed
                log.warning("run's next step taken over after it had streamed; ending it as incomplete")
                await self._fail(state, _worker_lost())
                return
            await self.resume_after_tools(state, lease)

    async def _advance_guarded(self, state: RunState, lease: HeldLease | None = None) -> None:
        try:
            await self._advance(state, lease)
        except LeaseLost:
            raise
        except PlatformError as exc:
            await self._fail(state, exc.info)
        except Exception:
            log.exception("run failed unexpectedly")
            await self._fail(state, ErrorInfo.of(ErrorCode.INTERNAL, "Something went wrong on our side."))

    async def _advance(self, state: RunState, lease: HeldLease | None = None) -> None:
        if state.step >= self._settings.max_steps:
            raise PlatformError(ErrorCode.MODEL_STEP_LIMIT, "The model kept asking for tools; the run was stopped.")
        state.step += 1

        async def publish_tokens(text: str) -> None:
            if lease is not None:
                lease.check()  # another replica took the run over: not one more token from here
            await self._events.publish(TokenEvent(request_id=state.request_id, text=text))
            # What the client has seen so far: a failure after this point is partial.
            state.answer += text

        # Tokens that come while one is being published go out as one event (`token_stream.py`).
        async with token_stream(publish_tokens) as tokens:
            turn = await self._call_model(state, tokens.send)
        state.usage = state.usage + turn.usage
        if turn.tool_calls:
            await self._dispatch_tools(state, turn)
        else:
            await self._finish(state, turn.model)

    async def _call_model(self, state: RunState, send_token: Any) -> ModelTurn:
        model = self._model.model
        turn = await self._model.stream_turn(state.messages, self._openai_tools, send_token, state.deadline_at)
        if turn.time_to_first_token_s is not None:
            metrics.MODEL_TTFT.labels(model).observe(turn.time_to_first_token_s)
        metrics.MODEL_TOKENS.labels(model, "input").inc(turn.usage.prompt_tokens)
        metrics.MODEL_TOKENS.labels(model, "output").inc(turn.usage.completion_tokens)
        return turn

    async def _dispatch_tools(self, state: RunState, turn: ModelTurn) -> None:
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": turn.text or None,
            "tool_calls": [
                {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in turn.tool_calls
            ],
        }
        state.messages.append(assistant)
        state.pending = [
            PendingCall(call_id=c.call_id, tool=c.name, arguments=_parse_arguments(c.arguments_json))
            for c in turn.tool_calls
        ]
        # State first: a result may arrive at another replica before this one returns.
        await self._runs.save(state, self._state_ttl(state))
        # Results that never come become timeouts (`deadlines.py`), so the run always goes on.
        due_at = min(time.time() + self._settings.tool_result_timeout_s, state.deadline_at)
        await self._runs.schedule_deadline(state.request_id, state.step, due_at)
        for call in state.pending:
            await self._events.publish(
                ToolStartEvent(
                    request_id=state.request_id, call_id=call.call_id, tool=call.tool, arguments=call.arguments
                )
            )
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

    async def _finish(self, state: RunState, model: str) -> None:
        await self._sessions.append(
            state.session_id, Turn.of(state.request_id, user=state.user_message, assistant=state.answer)
        )
        await self._events.publish(
            DoneEvent(
                request_id=state.request_id,
                session_id=state.session_id,
                answer=state.answer,
                model=model,
                tool_calls=state.tool_calls,
                usage=state.usage,
                citations=state.citations,
            )
        )
        await self._runs.delete(state.request_id)
        await self._runs.end_turn(state.session_id, state.request_id)
        metrics.RUNS.labels("done", "").inc()
        log.info(
            "run done",
            extra={"steps": state.step, "tool_calls": len(state.tool_calls), **self._text("answer", state.answer)},
        )

    async def _fail(self, state: RunState, error: ErrorInfo) -> None:
        partial = bool(state.answer)
        language = language_of(state.user_message, state.locale)
        await self._events.publish(
            ErrorEvent(
                request_id=state.request_id,
                error=error,
                partial=partial,
                fallback=fallback_message(error, language, partial=partial),
            )
        )
        await self._runs.delete(state.request_id)
        await self._runs.end_turn(state.session_id, state.request_id)
        metrics.RUNS.labels("error", error.error_class.value).inc()
        record_error(error, "run")
        log.warning("run failed", extra={"error_code": error.code.value, "error_class": error.error_class.value})

    def _text(self, field: str, text: str) -> dict[str, str]:
        """What users wrote or were answered, for the log only when the deployment asks for it."""
        return {field: text[:LOGGED_TEXT_CHARS]} if self._settings.log_prompts else {}

    def _state_ttl(self, state: RunState) -> float:
        return max(state.deadline_at - time.time(), 0) + self._settings.run_state_ttl_s


def _worker_lost() -> ErrorInfo:
    return ErrorInfo.of(
        ErrorCode.INFRA_UNAVAILABLE,
        "The service answering this request stopped; the answer is incomplete.",
        reason="worker_lost",
    )


def _parse_arguments(arguments_json: str) -> dict[str, Any]:
    """Tool arguments as the model wrote them. Malformed JSON is passed on as-is
    under `_raw`, so the tool runner's schema check reports it to the model."""
    try:
        value = orjson.loads(arguments_json or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": arguments_json}
    return value if isinstance(value, dict) else {"_raw": arguments_json}


def _tool_end_event(request_id: str, call: PendingCall, outcome: ToolOutcome) -> ToolEndEvent:
    if outcome.ok:
        status = outcome.output.get("status")
        summary = f"HTTP {status}" if status is not None else "ok"
    else:
        summary = outcome.error.message if outcome.error else "failed"
    return ToolEndEvent(
        request_id=request_id,
        call_id=call.call_id,
        tool=call.tool,
        ok=outcome.ok,
        error=outcome.error,
        summary=summary,
        duration_ms=outcome.duration_ms,
    )
