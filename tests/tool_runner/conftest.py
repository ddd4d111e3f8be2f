"""An upstream web server with every behaviour `http_get` must handle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.web import PAGE_HTML, serve_in_thread

BIG = 64 * 1024


def upstream_app() -> Starlette:
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
            Route("/data", data),
            Route("/fail", fail),
            Route("/stall", stall),
            Route("/big", big),
            Route("/big-stream", big_stream),
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
