"""The gateway: HTTP and SSE in front of the bus.

`create_app` builds its transports from settings (the gateway's own process),
or takes them ready-made (the embedded runner shares them with the other
services in one process).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from agent_common import infra
from agent_common.auth import ApiKeyStore, FileApiKeyStore
from agent_common.bus import Bus
from agent_common.http_metrics import HttpMetricsMiddleware
from agent_common.messages import ReindexStatus
from agent_common.probes import ReadinessCheck, probe_routes
from agent_common.run_events import RunEventChannel
from agent_common.sessions import SessionStore
from agent_common.sessions.owners import MemoryOwnerStore, OwnerStore, RedisOwnerStore
from agent_common.topics import RAG_STATUS
from agent_gateway.admission import Admission
from agent_gateway.auth import Authenticator
from agent_gateway.auth.jwt import JwtVerifier
from agent_gateway.body_limit import BodyLimitMiddleware
from agent_gateway.errors import install_error_handlers
from agent_gateway.http_tracing import trace_requests
from agent_gateway.ownership import Ownership
from agent_gateway.rate_limits import MemoryStreamSlots, RedisStreamSlots, RequestLimits, StreamSlots
from agent_gateway.reindex_board import ReindexBoard
from agent_gateway.request_context import RequestContextMiddleware
from agent_gateway.routes import chat, reindex, sessions
from agent_gateway.runs import RunClient
from agent_gateway.settings import GatewayConfig

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("agent.gateway")

ANONYMOUS_WARNING = (
    "NO API KEYS EXIST: the gateway serves ANONYMOUS callers. Fine for a first look on this machine; "
    "create a key (`agent keys create --user <id>`) before anyone else can reach it: "
    "from the first key on, calls without one are refused with 401."
)


def create_app(
    config: GatewayConfig | None = None,
    *,
    bus: Bus | None = None,
    events: RunEventChannel | None = None,
    sessions_store: SessionStore | None = None,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    run_alongside: AbstractAsyncContextManager[None] | None = None,
    allow_anonymous_without_keys: bool = False,
    untraced_prefixes: Sequence[str] = (),
) -> FastAPI:
    """With `bus` and `events` given, the caller owns their life cycle; it can
    start and stop them with `run_alongside`, entered first and left last.
    `allow_anonymous_without_keys` is for the embedded default only: a gateway of
    its own always requires a credential. Paths under `untraced_prefixes` (apps the
    caller mounts beside the API) make no HTTP spans."""
    config = config or GatewayConfig()
    owned = bus is None
    if owned:
        infra.check_mode(config.bus, config.redis)
    checks: dict[str, ReadinessCheck] = {}
    board = ReindexBoard()
    if bus is not None:  # the caller starts it: subscribe now, before it does
        _follow_reindex_statuses(bus, board)

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
        app_bus = bus
        if app_bus is None:
            app_bus = infra.build_bus(config.bus, client_id="gateway")
            _follow_reindex_statuses(app_bus, board)
        app_events = events or infra.build_run_events(redis)
        app_sessions = sessions_store or infra.build_session_store(redis, max_turns=1, ttl_s=60)
        if owned:
            await app_events.start()
            await app_bus.start()
        app.state.run_client = RunClient(app_bus, app_events, config.gateway.request_timeout_s)
        app.state.bus = app_bus
        app.state.sessions = app_sessions
        keys = _key_store(config, redis)
        redis_url = config.redis.url.get_secret_value() if config.redis.url else None
        authenticator = Authenticator(
            keys,
            JwtVerifier(config.auth) if config.auth.jwt_jwks_url else None,
            allow_anonymous_without_keys=allow_anonymous_without_keys,
        )
        app.state.admission = Admission(
            authenticator=authenticator,
            limits=RequestLimits(config.limits, redis_url if redis is not None else None),
            streams=_stream_slots(config, redis),
        )
        app.state.ownership = Ownership(
            _owner_store(redis),
            session_ttl_s=config.gateway.owner_ttl_s,
            run_ttl_s=config.gateway.request_timeout_s + 900,
        )
        checks.update({"bus": app_bus.ping, "events": app_events.ping, **(extra_checks or {})})
        if await authenticator.anonymous_allowed():
            log.warning(ANONYMOUS_WARNING)
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
        description="Chat with the agent: whole answers as JSON, or streamed as Server-Sent Events. "
        "Every `/api` call needs `Authorization: Bearer <API key or JWT>`.",
        lifespan=lifespan,
    )
    app.state.settings = config.gateway
    app.state.reindex_board = board
    app.state.source_roots = config.roots.as_written()
    # Outermost first: metrics see every answer, refusals included; the request id and
    # client IP exist before the body limit can refuse.
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.gateway.max_body_bytes)
    app.add_middleware(
        RequestContextMiddleware,
        ip_header=config.gateway.client_ip_header,
        trusted_hops=config.gateway.trusted_proxy_hops,
    )
    app.add_middleware(HttpMetricsMiddleware)
    install_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(sessions.router)
    app.include_router(reindex.router)
    app.router.routes.extend(probe_routes("gateway", lambda: checks))
    _document_limits(app, config)
    trace_requests(app, untraced_prefixes)
    return app


def _follow_reindex_statuses(bus: Bus, board: ReindexBoard) -> None:
    # A consumer group of this replica's own: every replica reads every status, so any
    # replica can answer for a command whichever replica accepted it.
    bus.subscribe(ReindexStatus, board.record, group=RAG_STATUS.consumer_group + secrets.token_hex(4))


def _document_limits(app: FastAPI, config: GatewayConfig) -> None:
    """The schema states the message limit this gateway enforces, not the model's static maximum."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        message = document["components"]["schemas"]["ChatBody"]["properties"]["message"]
        message["maxLength"] = config.gateway.max_message_chars
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _key_store(config: GatewayConfig, redis: Redis | None) -> ApiKeyStore:
    if redis is None:
        return FileApiKeyStore(config.auth.keys_file)
    from agent_common.auth.redis_store import RedisApiKeyStore

    return RedisApiKeyStore(redis)


def _stream_slots(config: GatewayConfig, redis: Redis | None) -> StreamSlots:
    lease_s = config.gateway.request_timeout_s + 60
    if redis is None:
        return MemoryStreamSlots(config.limits.streams_per_user, lease_s)
    return RedisStreamSlots(redis, config.limits.streams_per_user, lease_s)


def _owner_store(redis: Redis | None) -> OwnerStore:
    return MemoryOwnerStore() if redis is None else RedisOwnerStore(redis)
