"""The gateway: HTTP and SSE in front of the bus.

`create_app` opens its transports from settings (the gateway's own process),
or takes them ready-made (the embedded runner shares them with the other
services in one process).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from agent_common import error_metrics, http_metrics, security_events
from agent_common.bus import Bus, BusHealth
from agent_common.http_metrics import HttpMetricsMiddleware
from agent_common.messages import ReindexStatus
from agent_common.metrics_server import serving_metrics
from agent_common.probes import ReadinessCheck, probe_routes
from agent_common.start_up_heap import start_up_heap_frozen
from agent_common.transports import Transports, check_mode, open_transports
from agent_gateway.admission import Admission
from agent_gateway.api_docs import add_docs_pages
from agent_gateway.auth import Authenticator
from agent_gateway.auth.jwt import JwtVerifier
from agent_gateway.body_limit import BodyLimitMiddleware
from agent_gateway.document_store import shared_document_store
from agent_gateway.errors import install_error_handlers
from agent_gateway.event_stream import head_hold_s
from agent_gateway.http_tracing import FASTAPI_TELEMETRY, trace_requests
from agent_gateway.openai_errors import OpenAIErrorShape
from agent_gateway.ownership import Ownership
from agent_gateway.rate_limits import RequestLimits
from agent_gateway.reindex_board import ReindexBoard
from agent_gateway.request_context import RequestContextMiddleware
from agent_gateway.routes import chat, documents, openai_compat, reindex, session_list, sessions
from agent_gateway.run_client import RunClient
from agent_gateway.settings import GatewayConfig
from agent_gateway.web_page import add_web_page

if TYPE_CHECKING:  # the Qdrant client is the embedded default's to load, not every gateway's
    from agent_common.rag.store import VectorStore

log = logging.getLogger("agent.gateway")

ANONYMOUS_WARNING = (
    "NO API KEYS EXIST: the gateway serves ANONYMOUS callers. Fine for a first look on this machine; "
    "create a key (`agent keys create --user <id>`) before anyone else can reach it: "
    "from the first key on, calls without one are refused with 401."
)


def create_app(
    config: GatewayConfig | None = None,
    *,
    transports: Transports | None = None,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    run_alongside: AbstractAsyncContextManager[None] | None = None,
    allow_anonymous_without_keys: bool = False,
    mounted_prefixes: Sequence[str] = (),
    document_index: VectorStore | None = None,
) -> FastAPI:
    """With `transports` given, the caller owns their life cycle; it can start and
    stop them with `run_alongside`, entered first and left last. Without, the gateway
    opens its own from `config` when it starts.
    `allow_anonymous_without_keys` is for the embedded default only: a gateway of
    its own always requires a credential. Paths under `mounted_prefixes` are apps the
    caller mounts beside the API (the embedded offline model): they make no HTTP spans
    and are not held to the API's body limit, which is sized for one chat message, not
    for a model request carrying a whole conversation. `document_index` is the index a process
    shares with the gateway (the embedded default's), for `/api/documents` to list; without
    one, a gateway given `RAG_STORE_URL` lists from that shared store, which it then closes."""
    config = config or GatewayConfig()
    if transports is None:
        check_mode(config.bus, config.redis)
    own_store = shared_document_store(config.rag) if document_index is None else None
    checks: dict[str, ReadinessCheck] = {}
    board = ReindexBoard()
    if transports is not None:  # the caller starts them: subscribe now, before it does
        _follow_reindex_statuses(transports.bus, board)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # First in, last out: scraped from start-up to the end of the drain.
            app.state.metrics_port = await stack.enter_async_context(
                serving_metrics(config.gateway.host, config.metrics.port_for(config.gateway.port))
            )
            if run_alongside is not None:
                await stack.enter_async_context(run_alongside)
            if own_store is not None:  # connected by its first listing, closed after the drain
                stack.push_async_callback(own_store.close)
            shared = transports or open_transports(
                config.bus,
                config.redis,
                client_id="gateway",
                keys_file=config.auth.keys_file,
                budgets_file=config.budgets.file,
            )
            _share(app, shared)  # asks for what it needs before its own transports start it
            if transports is None:
                _follow_reindex_statuses(shared.bus, board)
                await stack.enter_async_context(shared)
            await stack.enter_async_context(app.state.bus_health)
            if await app.state.admission.authenticator.anonymous_allowed():
                log.warning(ANONYMOUS_WARNING)
            await stack.enter_async_context(start_up_heap_frozen())  # last: all of start-up is in it
            yield

    def _share(app: FastAPI, shared: Transports) -> None:
        """The app's shared objects, built on the transports (`state.py` hands them to routes)."""
        app.state.bus_health = BusHealth(shared.bus)
        app.state.run_client = RunClient(
            shared.bus,
            shared.run_events,
            config.gateway.request_timeout_s,
            grace_s=config.gateway.run_ending_grace_s,
            bus_health=app.state.bus_health,
            bus_ride_through_s=config.bus.ride_through_s,
            claims=shared.run_store.claims,
        )
        app.state.bus = shared.bus
        app.state.sse_head_hold_s = head_hold_s(config.gateway.sse_head_hold_s, shared.bus)
        app.state.sessions = shared.sessions
        authenticator = Authenticator(
            shared.api_keys,
            JwtVerifier(config.auth) if config.auth.jwt_jwks_url else None,
            allow_anonymous_without_keys=allow_anonymous_without_keys,
        )
        app.state.admission = Admission(
            authenticator=authenticator,
            limits=RequestLimits(config.limits, shared.request_limiter),
            streams=shared.stream_slots(config.limits.streams_per_user, config.gateway.request_timeout_s + 60),
            budgets=shared.budgets,
        )
        app.state.ownership = Ownership(
            shared.owners,
            session_ttl_s=config.gateway.owner_ttl_s,
            run_ttl_s=config.gateway.request_timeout_s + 900,
        )
        checks.update({"bus": shared.bus.ping, "events": shared.run_events.ping, **(extra_checks or {})})

    app = FastAPI(
        title="Agent platform gateway",
        version="0.1.0",
        description="Chat with the agent: whole answers as JSON, or streamed as Server-Sent Events. "
        "Every `/api` call needs `Authorization: Bearer <API key or JWT>`.",
        lifespan=lifespan,
        docs_url=None,  # served by `add_docs_pages`, with assets of its own rather than a CDN's
        redoc_url=None,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.settings = config.gateway
    app.state.reindex_board = board
    app.state.source_roots = config.roots.as_written()
    app.state.documents = document_index or own_store
    # Outermost first: metrics see every answer, refusals included; the request id and
    # client IP exist before the body limit can refuse.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=config.gateway.max_body_bytes,
        read_timeout_s=config.gateway.body_timeout_s,
        exempt_prefixes=mounted_prefixes,
    )
    app.add_middleware(OpenAIErrorShape)  # outside the body limit: its refusals of `/v1` are reshaped too
    app.add_middleware(
        RequestContextMiddleware,
        ip_header=config.gateway.client_ip_header,
        trusted_hops=config.gateway.trusted_proxy_hops,
        routes=lambda: app.router.routes,
    )
    app.add_middleware(HttpMetricsMiddleware, routes=lambda: app.router.routes)
    install_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(session_list.router)
    app.include_router(sessions.router)
    app.include_router(reindex.router)
    app.include_router(documents.router)
    app.include_router(openai_compat.router)
    app.router.routes.extend(probe_routes("gateway", lambda: checks))
    add_docs_pages(app)
    add_web_page(app)
    _document_limits(app, config)
    trace_requests(app, mounted_prefixes)
    _initialise_series(app)
    return app


def _initialise_series(app: FastAPI) -> None:
    """Every series the alerts and dashboards read, at 0 from start-up (see `error_metrics`)."""
    # The routers are included without a prefix of their own: their routes' paths are the templates.
    http_metrics.initialise_series(
        [
            *app.router.routes,
            *chat.router.routes,
            *session_list.router.routes,
            *sessions.router.routes,
            *reindex.router.routes,
            *documents.router.routes,
            *openai_compat.router.routes,
        ]
    )
    error_metrics.initialise_series("http")
    error_metrics.initialise_series("run")  # the runs the gateway ends itself (`run_client.py`)
    refused_here = set(security_events.SecurityEvent) - {security_events.SecurityEvent.TOOL_URL_REFUSED}
    security_events.initialise_series(*sorted(refused_here))


def _follow_reindex_statuses(bus: Bus, board: ReindexBoard) -> None:
    # Every replica reads every status (without a group: none is left behind when it goes),
    # so any replica can answer for a command whichever replica accepted it.
    bus.follow(ReindexStatus, board.record)


def _document_limits(app: FastAPI, config: GatewayConfig) -> None:
    """The schema states the message limit this gateway enforces, not the model's static maximum."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        message = document["components"]["schemas"]["ChatBody"]["properties"]["message"]
        message["maxLength"] = config.gateway.max_message_chars
        return document

    app.openapi = openapi  # type: ignore[method-assign]
