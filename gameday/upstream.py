"""The tool upstream the game day's clients ask pages of: quick, or, while `hang` is on,
holding every request past the tool runner's timeout (an upstream that hangs)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["Upstream"]


class Upstream:
    def __init__(self) -> None:
        self.hanging = False
        self.app = Starlette(routes=[Route("/page", self._page)])

    async def _page(self, request: Request) -> Response:
        # Polled: the switch is flipped from another thread than the server's loop.
        while self.hanging:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        return PlainTextResponse(f"Page {request.query_params.get('n', '')}: the answer is 42.")
