"""An upstream web server with every behaviour `http_get` must handle, and the
tool context tests fetch it with."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_common.messages import ToolCallRequested, ToolOutcome
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import Executor
from agent_tool_runner.settings import ToolSettings
from tests.support.web import PAGE_HTML, free_tcp_port, serve_in_thread

BIG = 64 * 1024
LIMIT = BIG // 2  # the response-size limit the tests configure
DEAD_PORT = free_tcp_port()  # nothing listens here: a refused connection
KOREAN_PAGE = "<html><head><meta charset='euc-kr'></head><body><p>서울의 날씨는 맑습니다.</p></body></html>"


def upstream_app() -> Starlette:
    hits: dict[str, int] = {}

    async def flaky(request: Request) -> Response:
        """Fails `fail` times with `status` (per `id`), then answers; `/hits?id=` tells how often it was called."""
        key = request.query_params["id"]
        hits[key] = hits.get(key, 0) + 1
        if hits[key] <= int(request.query_params.get("fail", "1")):
            status = int(request.query_params.get("status", "503"))
            return PlainTextResponse("not now", status_code=status, headers={"Retry-After": "0"})
        return PlainTextResponse(f"answered on call {hits[key]}")

    async def hit_count(request: Request) -> Response:
        return JSONResponse({"hits": hits.get(request.query_params["id"], 0)})

    async def page(_: Request) -> Response:
        return Response(PAGE_HTML, media_type="text/html; charset=utf-8")

    async def data(_: Request) -> Response:
        return JSONResponse({"answer": 42, "언어": "한국어"})

    async def fail(_: Request) -> Response:
        return PlainTextResponse("boom", status_code=500)

    async def stall(_: Request) -> Response:
        await asyncio.sleep(30)
        return PlainTextResponse("too late")

    async def big(_: Request) -> Response:
        return PlainTextResponse("x" * BIG)

    async def big_stream(_: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while streaming
            for _ in range(BIG // 1024):
                yield b"y" * 1024

        return StreamingResponse(chunks(), media_type="text/plain")

    async def gzip_bomb(_: Request) -> Response:
        # 30 KB on the wire, 30 MB inflated: the limit applies to what it inflates to.
        return Response(
            gzip.compress(b"z" * (30 * 1024 * 1024)), media_type="text/plain", headers={"Content-Encoding": "gzip"}
        )

    async def gzipped(_: Request) -> Response:
        return Response(
            gzip.compress("compressed hello, 압축된 인사".encode()),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Encoding": "gzip"},
        )

    async def brotli(_: Request) -> Response:
        return Response(b"\x0b\x02\x80hello\x03", media_type="text/plain", headers={"Content-Encoding": "br"})

    async def euc_kr(_: Request) -> Response:  # the charset only in the page's <meta>, as many Korean sites do
        return Response(KOREAN_PAGE.encode("euc-kr"), headers={"Content-Type": "text/html"})

    async def long_text(_: Request) -> Response:
        return PlainTextResponse("가나다라 " * 2000)  # 10,000 characters, 26 KB: under the byte limit

    async def binary(_: Request) -> Response:
        return Response(b"\x89PNG\r\n", media_type="image/png")

    async def redirect_local(request: Request) -> Response:
        return RedirectResponse("/page", status_code=302)

    async def redirect_away(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def redirect_loop(_: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    return Starlette(
        routes=[
            Route("/page", page),
            Route("/flaky", flaky),
            Route("/hits", hit_count),
            Route("/data", data),
            Route("/fail", fail),
            Route("/stall", stall),
            Route("/big", big),
            Route("/big-stream", big_stream),
            Route("/gzip-bomb", gzip_bomb),
            Route("/gzipped", gzipped),
            Route("/brotli", brotli),
            Route("/euc-kr", euc_kr),
            Route("/long-text", long_text),
            Route("/binary", binary),
            Route("/redirect-local", redirect_local),
            Route("/redirect-away", redirect_away),
            Route("/loop", redirect_loop),
        ]
    )


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    with serve_in_thread(upstream_app()) as url:
        yield url


@pytest.fixture
def upstream_port(upstream: str) -> int:
    return httpx.URL(upstream).port or 0


def settings_for(upstream_port: int, **overrides: object) -> ToolSettings:
    """The upstream on loopback, reachable: its host and port listed, private networks opened."""
    values: dict[str, object] = {
        "http_allowlist": ["127.0.0.1", "*.allowed.test"],
        "http_allowed_ports": [80, 443, upstream_port, DEAD_PORT],
        "http_allow_private_networks": True,
        "http_timeout_s": 0.5,
        "http_max_response_bytes": LIMIT,
        **overrides,
    }
    return ToolSettings.model_validate(values)


@pytest.fixture
async def executor(upstream_port: int) -> AsyncIterator[Executor]:
    ctx = ToolContext.create(settings_for(upstream_port))
    yield Executor(ctx)
    await ctx.aclose()


def call(arguments: dict[str, object], tool: str = "http_get", deadline_in: float = 30) -> ToolCallRequested:
    return ToolCallRequested(
        request_id="req_1",
        session_id="ses_1",
        user_id="u",
        call_id="c1",
        tool=tool,
        arguments=arguments,
        deadline_at=time.time() + deadline_in,
    )


async def fetch(executor: Executor, url: str) -> ToolOutcome:
    return await executor.execute(call({"url": url}))


def error_code(outcome: ToolOutcome) -> str:
    assert outcome.ok is False and outcome.error is not None, outcome
    assert outcome.error.error_class == "tool"
    return outcome.error.code.value
