"""The gateway: HTTP and SSE in front of the bus.

`create_app` builds its transports from settings (the gateway's own process),
or takes them ready-made (the embedded runner shares them with the other
services in one process).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from agent_common import infra
from agent_common.bus import Bus
from agent_common.http_metrics import HttpMetricsMiddleware
from agent_common.probes import ReadinessCheck, probe_routes
from agent_common.run_events import RunEventChannel
from agent_gateway.errors import install_error_handlers
from agent_gateway.routes import chat
from agent_gateway.runs import RunClient
from agent_gateway.settings import GatewayConfig


def create_app(
    config: GatewayConfig | None = None,
    *,
    bus: Bus | None = None,
    events: RunEventChannel | None = None,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    run_alongside: AbstractAsyncContextManager[None] | None = None,
) -> FastAPI:
    """With `bus` and `events` given, the caller owns their life cycle; it can
    start and stop them with `run_alongside`, entered first and left last."""
    config = config or GatewayConfig()
    owned = bus is None
    if owned:
        infra.check_mode(config.bus, config.redis)
    checks: dict[str, ReadinessCheck] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if run_alongside is not None:
                await stack.enter_async_context(run_alongside)
            async with _own_transports(app):
                yield

    @asynccontextmanager
    async def _own_transports(app: FastAPI) -> AsyncIterator[None]:
        redis = infra.redis_client(config.redis) if owned else None
        app_bus = bus or infra.build_bus(config.bus, client_id="gateway")
        app_events = events or infra.build_run_events(redis)
        if owned:
            await app_events.start()
            await app_bus.start()
        app.state.run_client = RunClient(app_bus, app_events, config.gateway.request_timeout_s)
        checks.update({"bus": app_bus.ping, "events": app_events.ping, **(extra_checks or {})})
        try:
            yield
        finally:
            if owned:
                await app_bus.stop()
                await app_events.stop()
                if redis is not None:
                    await redis.aclose()

    app = FastAPI(
        title="Agent platform gateway",
        version="0.1.0",
        description="Chat with the agent: whole answers as JSON, or streamed as Server-Sent Events.",
        lifespan=lifespan,
    )
    app.state.settings = config.gateway
    app.add_middleware(HttpMetricsMiddleware)
    install_error_handlers(app)
    app.include_router(chat.router)
    app.router.routes.extend(probe_routes("gateway", lambda: checks))
    return app
