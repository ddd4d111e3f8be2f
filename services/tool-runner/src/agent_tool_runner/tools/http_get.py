"""`http_get`: fetch one URL from an allowlisted host and return its readable text.

The URL is parsed once, by httpx, and that same object is checked and fetched;
the addresses its host resolves to are checked again at connect time
(`web/egress.py`). Redirects are followed by hand, each hop checked exactly like
the first. Calls to one host are bounded (`web/host_slots.py`), the body is
read as a bounded stream (`web/body.py`), and the model gets text, cut at the
spec's output limit with a marker that says so.
"""

from __future__ import annotations

from typing import Any

import httpx

from agent_common.errors import ErrorCode, PlatformError
from agent_common.tools.catalogue.http_get import SPEC
from agent_tool_runner.context import ToolContext
from agent_tool_runner.tools import Tool
from agent_tool_runner.web.allowlist import check_url, normalise_host
from agent_tool_runner.web.body import check_readable, decode_text, read_limited
from agent_tool_runner.web.page_text import collapse_whitespace, html_to_text

MAX_REDIRECTS = 3


def truncation_marker(limit: int) -> str:
    return f"\n[truncated: the text is longer than {limit} characters]"


async def http_get(arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    try:
        url = httpx.URL(arguments["url"])
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, "The URL is not valid.", reason="invalid_url") from exc
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, ctx.settings.http_allowlist, ctx.settings.http_allowed_ports)
        async with ctx.hosts.slot(normalise_host(url.host)):
            try:
                async with ctx.http.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = _redirect_target(url, response.headers["location"])
                        continue
                    return await _page(url, response, ctx)
            except httpx.TimeoutException as exc:
                raise PlatformError(ErrorCode.TOOL_TIMEOUT, f"{url.host} did not answer in time.") from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise PlatformError(
                    ErrorCode.TOOL_UPSTREAM_UNREACHABLE, f"Could not connect to {url.host}.", host=url.host
                ) from exc
    raise PlatformError(
        ErrorCode.TOOL_UPSTREAM_HTTP_ERROR,
        f"The page redirected more than {MAX_REDIRECTS} times.",
        reason="too_many_redirects",
    )


def _redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    try:
        return url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise PlatformError(
            ErrorCode.TOOL_URL_NOT_ALLOWED, "The page redirected to an invalid URL.", reason="invalid_url"
        ) from exc


async def _page(url: httpx.URL, response: httpx.Response, ctx: ToolContext) -> dict[str, Any]:
    if response.status_code >= 400:
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_HTTP_ERROR,
            f"The page answered HTTP {response.status_code}.",
            status=response.status_code,
        )
    mime = check_readable(response)
    body = await read_limited(response, ctx.settings.http_max_response_bytes)
    text = decode_text(body, response, mime)
    text = html_to_text(text) if "html" in mime else collapse_whitespace(text)
    limit = SPEC.max_output_chars
    truncated = len(text) > limit
    return {
        "url": str(url),
        "status": response.status_code,
        "content_type": mime,
        "text": text[:limit] + truncation_marker(limit) if truncated else text,
        "truncated": truncated,
    }


TOOL = Tool(spec=SPEC, run=http_get, configured_timeout_s=lambda settings: settings.http_timeout_s)
