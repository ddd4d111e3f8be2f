"""The gateway's HTTP server span: where each request's trace begins.

A caller's own W3C `traceparent` is honoured, so a client that traces its
calls sees the platform's spans under its own. Probes, scrapes and paths
mounted beside the API (the embedded offline model) make no spans: they
would be traces of their own, thousands a day, saying nothing.

When this process records no span (no exporter configured: `agent_common.tracing`),
a request skips the instrumentation's middleware, which gathers the request's
attributes, names its span from the route and wraps every message sent, all for a
span nobody keeps: 6 % of the gateway's CPU at 50 streams (docs/benchmarks.md). The
request still gets its server span's context, the caller's trace or a new one, which its
log lines and its bus messages carry on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, cast

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware, asgi_getter, get_host_port_url_tuple
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import SpanKind
from opentelemetry.util.http import ExcludeList, parse_excluded_urls
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_common.tracing import spans_recorded, tracer
from agent_gateway.request_context import QUIET_PATHS

# The app's `FastAPI(telemetry=...)`: FastAPI's own spans, metrics and logs off. The HTTP span is
# the instrumentation's, above; FastAPI's would wrap every request only to find it and stand
# aside, and make a second span when the instrumentation is skipped.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def trace_requests(app: FastAPI, untraced_prefixes: Iterable[str] = ()) -> None:
    # Matched (re.search) against the request's URL, query excluded.
    excluded = [f"{re.escape(path)}$" for path in sorted(QUIET_PATHS)]
    excluded += [f"//[^/]+{re.escape(prefix.rstrip('/'))}/" for prefix in untraced_prefixes]
    # The stable HTTP conventions (`http.response.status_code`, `url.path`), not the instrumentation's
    # pre-1.0 names; read once per process, and an operator's own setting wins.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    # Per-message `receive`/`send` spans would be one span per streamed token.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=",".join(excluded), exclude_spans=["receive", "send"])
    instrumented = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = instrumented()
        # The instrumentation's stack: a default error middleware around its own, around the app's.
        inner = getattr(stack, "app", None)
        if not isinstance(inner, OpenTelemetryMiddleware):  # laid out otherwise: every request through it
            return stack
        return ServerSpans(stack, inner.app, parse_excluded_urls(",".join(excluded)))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


class ServerSpans:
    """The instrumented stack while spans are recorded; otherwise the app's own stack under the
    request's span context, made as the instrumentation makes it."""

    def __init__(self, instrumented: ASGIApp, app: ASGIApp, excluded: ExcludeList) -> None:
        self.instrumented = instrumented
        self.app = app
        self._excluded = excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or spans_recorded():
            await self.instrumented(scope, receive, send)
            return
        url: str = get_host_port_url_tuple(scope)[2]  # type: ignore[no-untyped-call]  # the instrumentation's own
        if self._excluded.url_disabled(url):
            await self.app(scope, receive, send)
            return
        parent = propagate.extract(cast(dict[str, Any], scope), getter=asgi_getter)
        # Never kept, so named by its method alone.
        span = tracer.start_span(scope["method"], context=parent, kind=SpanKind.SERVER)
        with trace.use_span(span, end_on_exit=True):
            await self.app(scope, receive, send)
