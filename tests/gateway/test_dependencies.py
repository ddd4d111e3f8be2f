"""No request waits on a worker thread for a dependency: FastAPI runs a plain `def`
dependency in its thread pool, a hop per request (it showed in the gateway's
profile under load, `docs/benchmarks.md`)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from agent_gateway.routes import chat, reindex, sessions


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _on_the_loop(call: object) -> bool:
    # A callable instance (FastAPI's `HTTPBearer`) is awaited when its `__call__` is async.
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


def test_every_route_dependency_runs_on_the_event_loop() -> None:
    routes = [route for module in (chat, sessions, reindex) for route in module.router.routes]
    assert all(isinstance(route, APIRoute) for route in routes)
    assert {"/api/chat", "/api/chat/stream", "/api/reindex"} <= {route.path for route in routes}
    sync = {
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        for call in _calls(route.dependant)
        if call is not None and not _on_the_loop(call)
    }
    assert not sync
