"""`http_get`: fetch one URL from an allowlisted host and return its readable text.

The URL is parsed once, by httpx, and that same object is checked and fetched;
the addresses its host resolves to are checked again at connect time
(`web/ssrf_guard.py`). Redirects are followed by hand, each hop checked exactly like
the first. Calls to one host are bounded (`web/host_slots.py`) and go through the host's
circuit breaker, with a retry for what a retry can fix (a lost connection, 429,
502-504) within the call's deadline; the body is
read as a bounded stream (`web/body.py`), and the model gets text, cut at the
spec's output limit with a marker that says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from agent_common.errors import ErrorCode, PlatformError
from agent_common.resilience import BreakerOpen, RetryPolicy
from agent_common.tools.catalogue.http_get import SPEC
from agent_tool_runner.context import ToolContext
from agent_tool_runner.tools import Tool
from agent_tool_runner.web.allowlist import DEFAULT_PORTS, check_url, normalise_host
from agent_tool_runner.web.body import check_readable, decode_text, read_limited
from agent_tool_runner.web.page_text import collapse_whitespace, html_to_text
from agent_tool_runner.web.ssrf_guard import HostNotFound

MAX_REDIRECTS = 3
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
Hop = dict[str, Any] | httpx.URL  # a page, or where the page redirects to


def truncation_marker(limit: int) -> str:
    return f"\n[truncated: the text is longer than {limit} characters]"


async def http_get(arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    try:
        url = httpx.URL(arguments["url"])
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, "The URL is not valid.", reason="invalid_url") from exc
    deadline_at = time.time() + ctx.settings.http_timeout_s  # the executor's own deadline cuts it anyway
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, ctx.settings.http_allowlist, ctx.settings.http_allowed_ports)
        host = normalise_host(url.host)
        async with ctx.hosts.slot(host):
            # A breaker per service: host and port (two ports of one host are two upstreams).
            upstream = f"{host}:{url.port or DEFAULT_PORTS[url.scheme]}"
            hop = await _with_breaker(ctx, upstream, _fetcher(url, ctx), deadline_at)
        if isinstance(hop, httpx.URL):
            url = hop
            continue
        return hop
    raise PlatformError(
        ErrorCode.TOOL_UPSTREAM_HTTP_ERROR,
        f"The page redirected more than {MAX_REDIRECTS} times.",
        reason="too_many_redirects",
    )


def _host_failed(exc: BaseException) -> bool:
    """The host failing, not the request: what counts against its breaker (no answer, a 5xx, a 429)."""
    if not isinstance(exc, PlatformError):
        return False
    if exc.code in (ErrorCode.TOOL_UPSTREAM_UNREACHABLE, ErrorCode.TOOL_TIMEOUT):
        return True
    status = exc.info.details.get("status")
    return (
        exc.code is ErrorCode.TOOL_UPSTREAM_HTTP_ERROR and isinstance(status, int) and (status >= 500 or status == 429)
    )


def _worth_retrying(exc: BaseException) -> bool:
    """What a second try may fix within the deadline: a lost connection, 429, 502-504 (not a
    timeout, which used the deadline up, not a 500, which is usually the page's own bug, and not
    a name that does not resolve: the resolver has already asked again, and caches the answer)."""
    if not isinstance(exc, PlatformError):
        return False
    if exc.code is ErrorCode.TOOL_UPSTREAM_UNREACHABLE:
        return exc.info.details.get("reason") != "dns"
    return exc.code is ErrorCode.TOOL_UPSTREAM_HTTP_ERROR and exc.info.details.get("status") in RETRYABLE_STATUS


async def _with_breaker(
    ctx: ToolContext, upstream: str, fetch: Callable[[], Awaitable[Hop]], deadline_at: float
) -> Hop:
    breaker = ctx.breakers[upstream]
    try:
        breaker.before_call()
    except BreakerOpen as exc:
        raise PlatformError(
            ErrorCode.TOOL_UNAVAILABLE,
            f"{upstream} has been failing; calls to it are paused for a moment.",
            upstream=upstream,
            reason="circuit_open",
            retry_after=round(exc.retry_in_s, 1),
        ) from exc
    policy = RetryPolicy(attempts=ctx.settings.http_retry_attempts, backoff_s=0.1, backoff_max_s=0.5)
    try:
        hop = await policy.call(fetch, retryable=_worth_retrying, deadline_at=deadline_at)
    except PlatformError as exc:
        if _host_failed(exc):
            breaker.record_failure()
        else:
            breaker.record_success()  # the host answered; the page or the request was the problem
        raise
    except asyncio.CancelledError:
        # The call's deadline cut it off from outside (the executor's): the host did not answer in
        # time, which counts as a failure; were it not counted, a host that hangs would never open it.
        breaker.record_failure()
        raise
    breaker.record_success()
    return hop


def _fetcher(url: httpx.URL, ctx: ToolContext) -> Callable[[], Awaitable[Hop]]:
    async def fetch() -> Hop:  # a coroutine function, as the retry policy calls and awaits it
        return await _fetch(url, ctx)

    return fetch


async def _fetch(url: httpx.URL, ctx: ToolContext) -> Hop:
    """One GET: the page, or where it redirects to."""
    try:
        async with ctx.http.stream("GET", url) as response:
            if response.is_redirect and "location" in response.headers:
                return _redirect_target(url, response.headers["location"])
            return await _page(url, response, ctx)
    except httpx.TimeoutException as exc:
        raise PlatformError(ErrorCode.TOOL_TIMEOUT, f"{url.host} did not answer in time.") from exc
    except httpx.ConnectError as exc:
        if isinstance(exc.__cause__, HostNotFound):
            raise PlatformError(
                ErrorCode.TOOL_UPSTREAM_UNREACHABLE,
                f"The host {url.host} was not found (DNS).",
                host=url.host,
                reason="dns",
            ) from exc
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_UNREACHABLE, f"Could not connect to {url.host}.", host=url.host, reason="connect"
        ) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_UNREACHABLE,
            f"The connection to {url.host} broke off.",
            host=url.host,
            reason="connection_lost",
        ) from exc


def _redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    try:
        return url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise PlatformError(
            ErrorCode.TOOL_URL_NOT_ALLOWED, "The page redirected to an invalid URL.", reason="invalid_url"
        ) from exc


async def _page(url: httpx.URL, response: httpx.Response, ctx: ToolContext) -> dict[str, Any]:
    if response.status_code >= 400:
        retry_after = response.headers.get("retry-after", "")
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_HTTP_ERROR,
            f"The page answered HTTP {response.status_code}.",
            status=response.status_code,
            **({"retry_after": float(retry_after)} if retry_after.isdigit() else {}),
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
