"""Every request gets a request id and a client IP first, so that every log line
and every security event about it (a refusal included) carries both.

A well-formed incoming `X-Request-ID` (`agent_common.ids.is_valid_id`: 8 to 64
letters, digits, `_` or `-`) is honoured: it becomes the request's id, is echoed
back, and names the run it starts, so a caller's own id can be grepped through
every service's logs. Anything else is ignored and a fresh id is minted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_common.http_metrics import route_template
from agent_common.http_outcome import ResponseOutcome
from agent_common.ids import is_valid_id, new_id
from agent_common.logs import bind_ids
from agent_gateway.client_ip import client_ip

log = logging.getLogger("agent.gateway.access")

# Probes and scrapes answer every few seconds: an access line each would drown the requests.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class RequestContext:
    """What the edge learned about a request, kept in `scope["state"]["context"]`."""

    def __init__(self, request_id: str, client_ip: str, *, supplied: bool = False) -> None:
        self.request_id = request_id
        self.client_ip = client_ip
        self.supplied = supplied
        """True when the id is the caller's own `X-Request-ID`: a run started with it must be the id's first."""
        self.client_request_id: str | None = None
        """The caller's own `X-Request-ID` when the request's run could not go by it (another caller's)."""

    def replace_request_id(self, request_id: str) -> None:
        """Go by `request_id` (echoed back, logged), keeping the caller's own id beside it in the logs."""
        self.client_request_id, self.request_id, self.supplied = self.request_id, request_id, False


def request_context(scope: Scope) -> RequestContext:
    context: RequestContext = scope["state"]["context"]
    return context


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        ip_header: str | None,
        trusted_hops: int,
        routes: Callable[[], Iterable[BaseRoute]] = tuple,
    ) -> None:
        self.app = app
        self._routes = routes
        self._ip_header = ip_header
        self._trusted_hops = trusted_hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = incoming_request_id(scope)
        context = RequestContext(
            incoming or new_id("req_"),
            client_ip(scope, self._ip_header, self._trusted_hops),
            supplied=incoming is not None,
        )
        scope.setdefault("state", {})["context"] = context
        # The HTTP span (agent_gateway.http_tracing) is already open: a trace is found by its request id.
        trace.get_current_span().set_attribute("agent.request_id", context.request_id)

        started = time.perf_counter()
        outcome = ResponseOutcome(scope, receive, send)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers["X-Request-ID"] = context.request_id
            await outcome.send(message)

        with bind_ids(request_id=context.request_id, client_ip=context.client_ip):
            try:
                await self.app(scope, outcome.receive, send_with_id)
            finally:
                if scope.get("path") not in QUIET_PATHS:
                    # Matched here too: a request refused or abandoned before routing keeps its route.
                    route = route_template(scope, self._routes())
                    # The route template, never the raw path or query: they may carry what the caller typed.
                    log.info(
                        "request finished",
                        extra={
                            **_replaced_id(context),
                            "method": scope.get("method"),
                            "route": route,
                            "status": outcome.status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        },
                    )


def _replaced_id(context: RequestContext) -> dict[str, str]:
    if context.client_request_id is None:
        return {}
    return {"request_id": context.request_id, "client_request_id": context.client_request_id}


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if is_valid_id(text) else None
    return None
