"""The tool runner's own process (distributed mode): probes over HTTP, work over the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette

from agent_common.metrics_server import serving_metrics
from agent_common.probes import ReadinessCheck, all_pass, probe_routes
from agent_common.transports import open_transports
from agent_tool_runner.service import ToolRunner
from agent_tool_runner.settings import ToolRunnerConfig


def create_app(config: ToolRunnerConfig | None = None) -> Starlette:
    config = config or ToolRunnerConfig()
    checks: dict[str, ReadinessCheck] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # No Redis settings: a tool runner shares no state, only the bus.
        transports = open_transports(config.bus, None, client_id="tool-runner")
        runner = ToolRunner(transports.bus, config.tools, config.service.concurrency)
        runner.register()
        # Joins its group once its own checks pass, as every consuming service does (docs/reliability.md#readiness).
        transports.bus.consume_when(all_pass({"bus": transports.bus.ping}))
        async with AsyncExitStack() as stack:
            # First in, last out: scraped from start-up to the end of the drain.
            app.state.metrics_port = await stack.enter_async_context(
                serving_metrics(config.service.host, config.metrics.port_for(config.service.port))
            )
            await stack.enter_async_context(runner.running())  # closed after the bus has stopped
            await stack.enter_async_context(transports)
            checks.update(bus=transports.bus.ping, consuming=transports.bus.consuming)
            yield

    return Starlette(routes=probe_routes("tool-runner", lambda: checks), lifespan=lifespan)
