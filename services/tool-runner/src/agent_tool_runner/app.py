"""The tool runner's own process (distributed mode): probes over HTTP, work over the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from agent_common import infra
from agent_common.probes import ReadinessCheck, probe_routes
from agent_tool_runner.service import ToolRunner
from agent_tool_runner.settings import ToolRunnerConfig


def create_app(config: ToolRunnerConfig | None = None) -> Starlette:
    config = config or ToolRunnerConfig()
    checks: dict[str, ReadinessCheck] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        bus = infra.build_bus(config.bus, client_id="tool-runner")
        runner = ToolRunner(bus, config.tools, config.service.concurrency)
        runner.register()
        await bus.start()
        checks["bus"] = bus.ping
        try:
            yield
        finally:
            await bus.stop()
            await runner.close()

    return Starlette(routes=probe_routes("tool-runner", lambda: checks), lifespan=lifespan)
