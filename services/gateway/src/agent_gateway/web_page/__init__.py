"""The chat page at `/`: the built files of `web/` (see docs/web.md), served by the gateway.

The page is committed built, in `static/`, so serving it needs no Node; CI rebuilds it
from `web/` and fails when the two differ. Every file goes out under a strict
Content-Security-Policy: scripts, styles and connections to this origin only, images
from this origin or `data:` only, no frames, no plugins, no inline script. So an answer
that smuggles in an image or a script can load nothing, whatever the renderer misses.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSETS_PATH", "CONTENT_SECURITY_POLICY", "STATIC_DIR", "add_web_page"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/web"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page holds the API key in sessionStorage: no caching of the page by shared proxies.
    "Cache-Control": "no-cache",
}


class _PageFiles(StaticFiles):
    """The page's scripts and styles, under the page's own headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        return response


def add_web_page(app: FastAPI) -> None:
    """Serve the chat page at `/` and its files under `ASSETS_PATH`."""
    app.mount(ASSETS_PATH, _PageFiles(directory=STATIC_DIR), name="web-page")

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS, media_type="text/html")
