"""The gateway's HTTP server span: where each request's trace begins.

A caller's own W3C `traceparent` is honoured, so a client that traces its
calls sees the platform's spans under its own. Probes, scrapes and paths
mounted beside the API (the embedded offline model) make no spans: they
would be traces of their own, thousands a day, saying nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from agent_gateway.request_context import QUIET_PATHS


def trace_requests(app: FastAPI, untraced_prefixes: Iterable[str] = ()) -> None:
    # Matched (re.search) against the request's URL, query excluded.
    excluded = [f"{re.escape(path)}$" for path in sorted(QUIET_PATHS)]
    excluded += [f"//[^/]+{re.escape(prefix.rstrip('/'))}/" for prefix in untraced_prefixes]
    # The stable HTTP conventions (`http.response.status_code`, `url.path`), not the instrumentation's
    # pre-1.0 names; read once per process, and an operator's own setting wins.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    # Per-message `receive`/`send` spans would be one span per streamed token.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=",".join(excluded), exclude_spans=["receive", "send"])
