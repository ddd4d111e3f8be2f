"""`http_get`: fetch one URL from an allowlisted host and return its readable text.

The URL is parsed once, by httpx, and that same object is checked and fetched.
Redirects are followed by hand so every hop is checked like the first. The
body is read as a stream and reading stops at the size limit.
"""

from __future__ import annotations

from typing import Any

import httpx

from agent_common.errors import ErrorCode, PlatformError
from agent_tool_runner.allowlist import check_url
from agent_tool_runner.context import ToolContext
from agent_tool_runner.page_text import collapse_whitespace, html_to_text

MAX_REDIRECTS = 3
# What the model is given of a page, at most; longer text is cut with `truncated: true`.
MAX_TEXT_CHARS = 8000
_READABLE_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
_READABLE_SUFFIXES = ("+json", "+xml")


async def http_get(arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    try:
        url = httpx.URL(arguments["url"])
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, "The URL is not valid.") from exc
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, ctx.settings.http_allowlist, ctx.settings.http_allowed_ports)
        try:
            async with ctx.http.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = url.join(response.headers["location"])
                    continue
                return await _read(url, response, ctx.settings.http_max_response_bytes)
        except httpx.TimeoutException as exc:
            raise PlatformError(ErrorCode.TOOL_TIMEOUT, "The page did not answer in time.") from exc
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise PlatformError(
                ErrorCode.TOOL_UPSTREAM_UNREACHABLE, f"Could not connect to {url.host}.", host=url.host
            ) from exc
    raise PlatformError(ErrorCode.TOOL_UPSTREAM_HTTP_ERROR, f"The page redirected more than {MAX_REDIRECTS} times.")


async def _read(url: httpx.URL, response: httpx.Response, limit: int) -> dict[str, Any]:
    if response.status_code >= 400:
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_HTTP_ERROR,
            f"The page answered HTTP {response.status_code}.",
            status=response.status_code,
        )
    mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (mime.startswith(_READABLE_TYPES) or mime.endswith(_READABLE_SUFFIXES)):
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_HTTP_ERROR,
            f"The page is not text (content type {mime or 'missing'}).",
            content_type=mime,
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PlatformError(ErrorCode.TOOL_RESPONSE_TOO_LARGE, f"The page is larger than {limit} bytes.", limit=limit)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise PlatformError(
                ErrorCode.TOOL_RESPONSE_TOO_LARGE, f"The page is larger than {limit} bytes.", limit=limit
            )
    text = bytes(body).decode(response.charset_encoding or "utf-8", errors="replace")
    text = html_to_text(text) if "html" in mime else collapse_whitespace(text)
    truncated = len(text) > MAX_TEXT_CHARS
    return {
        "url": str(url),
        "status": response.status_code,
        "content_type": mime,
        "text": text[:MAX_TEXT_CHARS] + (" [truncated]" if truncated else ""),
        "truncated": truncated,
    }
