"""The runner's page server: the pages `{pages}` and `{offlist}` point at.

One server on 127.0.0.1, reachable under two names: `127.0.0.1` (which the
platform's allowlist must name) and `localhost` (which it must not). It
records the host name of every request, so a rule can tell whether anything
was fetched through the off-list name.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

ALLOWED_HOST = "127.0.0.1"
OFFLIST_HOST = "localhost"

# Short enough that an answer can quote it whole (the offline model quotes 200 characters).
PAGES: dict[str, str] = {
    "/page": """<!doctype html><html><head><title>Ferry timetable</title></head>
<body><h1>Ferry timetable</h1><p>The ferry to Jeju leaves at 7:30 every morning.
제주행 여객선은 매일 아침 7시 30분에 출발합니다.</p></body></html>""",
}


@dataclass
class PageServer:
    base_url: str
    offlist_url: str
    hosts: list[str] = field(default_factory=list)  # host name per request, in order

    def hosts_since(self, index: int) -> tuple[str, ...]:
        return tuple(self.hosts[index:])


def pages_app(record: list[str]) -> Starlette:
    async def page(request: Request) -> Response:
        record.append((request.url.hostname or "").lower())
        html = PAGES.get(request.url.path)
        return HTMLResponse(html) if html else PlainTextResponse("not found", status_code=404)

    return Starlette(routes=[Route("/{path:path}", page)])


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind((ALLOWED_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:`port` from a thread with its own event loop; yields the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=ALLOWED_HOST, port=port, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=1,
        )
    )  # fmt: skip
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://{ALLOWED_HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def page_server() -> Iterator[PageServer]:
    port = free_tcp_port()
    hosts: list[str] = []
    with serve_in_thread(pages_app(hosts), port) as base_url:
        yield PageServer(base_url, f"http://{OFFLIST_HOST}:{port}", hosts)
