"""The tool runner as a component: takes `ToolCallRequested` off the bus,
executes it, and answers with `ToolCallCompleted`. It holds no model key and
no session data: only what one call needs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry.trace import Span, StatusCode

from agent_common import security_events
from agent_common.bus import Bus
from agent_common.logs import bind_ids
from agent_common.messages import ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_common.topics import TOOL_CALLS
from agent_common.tracing import tracer
from agent_tool_runner import metrics
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import Executor
from agent_tool_runner.settings import RECOMMENDED_HTTP_TIMEOUT_S, ToolSettings

log = logging.getLogger("agent.tool_runner")


def warn_about_settings(settings: ToolSettings) -> None:
    """Say loudly at start-up what an operator should know is open or unusual."""
    if not settings.http_allowlist:
        log.warning("TOOL_HTTP_ALLOWLIST is empty: http_get will refuse every URL")
    if settings.http_allow_private_networks:
        log.warning(
            "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS is on: http_get may reach loopback and private addresses "
            "(cloud metadata addresses stay refused); never enable it where tools face untrusted text"
        )
    low, high = RECOMMENDED_HTTP_TIMEOUT_S
    if not low <= settings.http_timeout_s <= high:
        log.warning(
            "TOOL_HTTP_TIMEOUT_S is %.1f s, outside the recommended %.0f-%.0f s", settings.http_timeout_s, low, high
        )


def _refusal_reason(outcome: ToolOutcome) -> SecurityReason:
    reason = outcome.error.details.get("reason") if outcome.error else None
    try:
        return SecurityReason(str(reason))
    except ValueError:
        return SecurityReason.NOT_ALLOWED


def _span_attributes(call: ToolCallRequested, tool: str) -> dict[str, str]:
    """GenAI semantic conventions for a tool execution."""
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": call.call_id,
    }


def _record_outcome(span: Span, outcome: ToolOutcome, label: str) -> None:
    span.set_attribute("tool.outcome", label)
    if outcome.error is not None:
        span.set_attribute("error.type", outcome.error.code.value)
        span.set_status(StatusCode.ERROR, outcome.error.code.value)


class ToolRunner:
    def __init__(self, bus: Bus, settings: ToolSettings, concurrency: int) -> None:
        warn_about_settings(settings)
        self._bus = bus
        self._executor = Executor(ToolContext.create(settings))
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        metrics.initialise_series(self._executor.tools)
        security_events.initialise_series(SecurityEvent.TOOL_URL_REFUSED)

    def register(self) -> None:
        self._bus.subscribe(
            ToolCallRequested, self.handle, group=TOOL_CALLS.consumer_group, concurrency=self._concurrency
        )

    async def handle(self, call: ToolCallRequested) -> None:
        with bind_ids(request_id=call.request_id, session_id=call.session_id, user_id=call.user_id):
            tool = metrics.tool_label(call.tool, self._executor.tools)
            with tracer.start_as_current_span(f"execute_tool {tool}", attributes=_span_attributes(call, tool)) as span:
                async with self._slots:
                    outcome = await self._executor.execute(call)
                label = metrics.record(call.tool, outcome, self._executor.tools)
                _record_outcome(span, outcome, label)
            if label == "blocked":
                record_security_event(SecurityEvent.TOOL_URL_REFUSED, _refusal_reason(outcome))
            log.log(
                logging.WARNING if label == "blocked" else logging.INFO,
                "tool call finished",
                extra={
                    "tool": call.tool[:64],
                    "call_id": call.call_id,
                    "outcome": label,
                    "duration_ms": outcome.duration_ms,
                    "error_code": outcome.error.code.value if outcome.error else None,
                    "reason": outcome.error.details.get("reason") if outcome.error else None,
                },
            )
            await self._bus.publish(
                ToolCallCompleted(
                    request_id=call.request_id,
                    session_id=call.session_id,
                    user_id=call.user_id,
                    call_id=call.call_id,
                    tool=call.tool,
                    outcome=outcome,
                )
            )

    async def close(self) -> None:
        await self._executor.ctx.aclose()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ToolRunner]:
        """The runner's HTTP clients, closed on leaving: enter it before the bus starts, so the bus
        (and every call in flight) has stopped before the clients close."""
        try:
            yield self
        finally:
            await self.close()
