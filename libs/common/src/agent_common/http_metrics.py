"""Request counts and latency per route, for every service's HTTP side.

The `route` label is the route's template (`/api/chat/stream/{request_id}`),
never the raw path, so label values stay bounded; unmatched paths count as
`unmatched`. A client that hung up before its answer was complete counts as 499.
For a streamed response the duration is the whole stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_common.http_outcome import ResponseOutcome

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered, by route, method and status.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (whole stream for SSE), by route and method.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


# Answers exported at 0 for every route from start-up: success, and each server-side
# failure the 5xx alert counts, so its first burst after a start is seen by `rate()`.
INITIAL_STATUSES = ("200", "500", "502", "503", "504")


def initialise_series(routes: Iterable[BaseRoute]) -> None:
    """Export each route's and method's requests (`INITIAL_STATUSES`) and latency at 0."""
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if not path or not methods:
            continue  # a mount, or a websocket route
        for method in sorted(set(methods) - {"HEAD"}):
            HTTP_DURATION.labels(method, path)
            for status in INITIAL_STATUSES:
                HTTP_REQUESTS.labels(method, path, status)


def _flattened(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves: FastAPI wraps an included router's routes in one entry of the app's."""
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            yield from _flattened(inner)
        else:
            yield route


def route_template(scope: Scope, routes: Iterable[BaseRoute]) -> str:
    """The template of the route that answered: FastAPI's routes put themselves in the
    scope; plain Starlette routes (the probes and `/metrics`) do not, so they are matched
    here rather than counted as `unmatched` (which would dilute the 5xx share)."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template:
        return _mounted_at(scope) + str(template)
    for candidate in _flattened(routes):
        path = getattr(candidate, "path", None)
        if path and candidate.matches(scope)[0] is Match.FULL:
            return str(path)
    return "unmatched"


def _mounted_at(scope: Scope) -> str:
    """Where the app that answered is mounted inside this one ("" at the top): a mounted app's route
    names its path from its mount (the embedded offline model's `/v1/chat/completions`, served at
    `/offline/v1/...`, is not the platform's own). A root path the server was given is left out."""
    root_path = str(scope.get("root_path", ""))
    app_root_path = str(scope.get("app_root_path", root_path))
    return root_path[len(app_root_path) :] if root_path.startswith(app_root_path) else ""


class HttpMetricsMiddleware:
    """`routes` (read per request, so routes added later count) name the plain routes."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[BaseRoute]] = tuple) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outcome = ResponseOutcome(scope, receive, send)
        try:
            await self.app(scope, outcome.receive, outcome.send)
        finally:
            template = route_template(scope, self.routes())
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, template, str(outcome.status)).inc()
            HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)
