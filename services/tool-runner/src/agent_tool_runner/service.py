"""The tool runner as a component: takes `ToolCallRequested` off the bus,
executes it, and answers with `ToolCallCompleted`. It holds no model key and
no session data: only what one call needs."""

from __future__ import annotations

import asyncio
import logging

import httpcore
import httpx

from agent_common.bus import Bus
from agent_common.logs import bind_ids
from agent_common.messages import ToolCallCompleted, ToolCallRequested
from agent_common.settings import ToolSettings
from agent_common.topics import TOOL_CALLS
from agent_tool_runner import metrics
from agent_tool_runner.context import ToolContext
from agent_tool_runner.egress import GuardedNetworkBackend
from agent_tool_runner.executor import execute

log = logging.getLogger("agent.tool_runner")

USER_AGENT = "agent-platform-tool-runner/0.1 (+http_get)"


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool on the egress-checking network backend."""

    def __init__(self, settings: ToolSettings) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedNetworkBackend(allow_private=settings.http_allow_private_networks),
        )


def new_http_client(settings: ToolSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=GuardedTransport(settings),
        follow_redirects=False,
        trust_env=False,  # no proxy or netrc from the environment: what is checked is what is fetched
        timeout=httpx.Timeout(settings.http_timeout_s, connect=min(2.0, settings.http_timeout_s)),
        headers={"User-Agent": USER_AGENT, "Accept": "text/html, text/plain, application/json, */*;q=0.5"},
    )


class ToolRunner:
    def __init__(self, bus: Bus, settings: ToolSettings, concurrency: int) -> None:
        if settings.http_allow_private_networks:
            log.warning("TOOL_HTTP_ALLOW_PRIVATE_NETWORKS is on: http_get may reach loopback and private addresses")
        self._bus = bus
        self._context = ToolContext(settings=settings, http=new_http_client(settings))
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency

    def register(self) -> None:
        self._bus.subscribe(
            ToolCallRequested, self.handle, group=TOOL_CALLS.consumer_group, concurrency=self._concurrency
        )

    async def handle(self, call: ToolCallRequested) -> None:
        with bind_ids(request_id=call.request_id, session_id=call.session_id, user_id=call.user_id):
            async with self._slots:
                outcome = await execute(call, self._context)
            label = metrics.outcome_label(outcome)
            metrics.TOOL_CALLS.labels(call.tool, label).inc()
            metrics.TOOL_DURATION.labels(call.tool).observe(outcome.duration_ms / 1000)
            log.info(
                "tool call finished",
                extra={
                    "tool": call.tool,
                    "call_id": call.call_id,
                    "outcome": label,
                    "duration_ms": outcome.duration_ms,
                    "error_code": outcome.error.code.value if outcome.error else None,
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
        await self._context.http.aclose()
