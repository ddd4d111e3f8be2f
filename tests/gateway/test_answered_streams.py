"""A client that closes its stream as soon as it reads the stream's ending (`done`, `error`,
OpenAI's `[DONE]`: the openai SDK does) has its whole answer, even when the response's own end
has not reached it yet: its request is counted and logged with its status (200), not as a client
gone (499). A client that leaves before the ending still is. Driven at the ASGI level, so the
disconnect lands exactly where a real client's does, between the last frame and the response's end
(over Redis, the run's subscription is let go there), through the access log's and the metrics'
middlewares as the gateway stacks them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import Message

from agent_common.http_metrics import HttpMetricsMiddleware
from agent_gateway.event_stream import EventStream, LastFrame
from agent_gateway.request_context import RequestContextMiddleware


def app_streaming(route: str, ending: dict[str, str]) -> FastAPI:
    app = FastAPI()

    async def frames() -> AsyncIterator[dict[str, str]]:
        yield {"data": "a token"}
        await asyncio.sleep(0.05)  # the model's next token: a client leaving now is noticed before the ending
        yield ending
        await asyncio.sleep(0.05)  # the stream's clean-up after its ending: the client closes meanwhile

    @app.post(route)
    async def stream() -> EventStream:
        return EventStream(frames(), ping=0)

    app.add_middleware(RequestContextMiddleware, ip_header=None, trusted_hops=0, routes=lambda: app.router.routes)
    app.add_middleware(HttpMetricsMiddleware, routes=lambda: app.router.routes)
    return app


async def served_to_a_client_that_leaves_after(app: FastAPI, route: str, marker: bytes) -> None:
    """One request to `route`, whose client hangs up once it has read a frame holding `marker`."""
    read = asyncio.Event()

    async def receive() -> Message:
        if not read.is_set() and not receive.asked:  # type: ignore[attr-defined]
            receive.asked = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await read.wait()
        return {"type": "http.disconnect"}

    receive.asked = False  # type: ignore[attr-defined]

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and marker in message.get("body", b""):
            read.set()

    scope = {"type": "http", "method": "POST", "path": route, "headers": [], "query_string": b""}
    async with asyncio.timeout(10):
        await app(scope, receive, send)


def counted(route: str, status: str) -> float:
    return REGISTRY.get_sample_value("http_requests_total", {"method": "POST", "route": route, "status": status}) or 0


@pytest.mark.parametrize(
    ("ending", "marker"),
    [
        (LastFrame({"data": "[DONE]"}), b"[DONE]"),
        (LastFrame({"event": "done", "id": "2", "data": "{}"}), b"event: done"),
        (LastFrame({"event": "error", "id": "2", "data": "{}"}), b"event: error"),
    ],
)
async def test_a_client_that_closes_on_reading_the_ending_was_answered(
    ending: dict[str, str], marker: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    route = f"/answered-{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.INFO, logger="agent.gateway.access"):
        await served_to_a_client_that_leaves_after(app_streaming(route, ending), route, marker)
    assert counted(route, "200") == 1 and counted(route, "499") == 0
    assert [r.status for r in caplog.records if r.getMessage() == "request finished"] == [200]  # type: ignore[attr-defined]


async def test_a_client_that_leaves_before_the_ending_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    route = f"/gone-{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.INFO, logger="agent.gateway.access"):
        await served_to_a_client_that_leaves_after(
            app_streaming(route, LastFrame({"data": "[DONE]"})), route, b"a token"
        )
    assert counted(route, "499") == 1 and counted(route, "200") == 0
    assert [r.status for r in caplog.records if r.getMessage() == "request finished"] == [499]  # type: ignore[attr-defined]


async def test_an_ending_not_marked_last_leaves_a_client_that_closes_on_it_counted_as_gone() -> None:
    """What the mark is for: the same frame as a plain one, and the same client, is a 499."""
    route = f"/unmarked-{uuid.uuid4().hex[:8]}"
    await served_to_a_client_that_leaves_after(app_streaming(route, {"data": "[DONE]"}), route, b"[DONE]")
    assert counted(route, "499") == 1
