"""The one HTTP client tools fetch with: SSRF-guarded connections, no redirects
followed by the client, nothing taken from the environment (proxies, netrc)."""

from __future__ import annotations

import httpcore
import httpx

from agent_tool_runner.settings import ToolSettings
from agent_tool_runner.web.ssrf_guard import GuardedNetworkBackend

USER_AGENT = "agent-platform-tool-runner/0.1 (+http_get)"
ACCEPT = "text/html, application/xhtml+xml, text/plain, application/json, application/xml;q=0.9, */*;q=0.1"
# What `body.py` decodes with a bounded decompressor; br and zstd are not asked for.
ACCEPT_ENCODING = "gzip, deflate"
CONNECT_TIMEOUT_S = 2.0


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on the SSRF guard's network backend
    (httpx takes no network backend of its own, so the pool is replaced)."""

    def __init__(self, settings: ToolSettings) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedNetworkBackend(allow_private=settings.http_allow_private_networks),
        )


def new_http_client(settings: ToolSettings) -> httpx.AsyncClient:
    total = settings.http_timeout_s
    return httpx.AsyncClient(
        transport=GuardedTransport(settings),
        follow_redirects=False,  # followed by hand, each hop checked like the first
        trust_env=False,  # no proxy or netrc from the environment: what is checked is what is fetched
        timeout=httpx.Timeout(total, connect=min(CONNECT_TIMEOUT_S, total)),
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
    )
