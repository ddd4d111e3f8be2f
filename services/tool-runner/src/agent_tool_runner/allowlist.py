"""Which URLs `http_get` may fetch: http(s) only, no userinfo, allowed ports, allowlisted hosts.

The addresses a host resolves to are checked separately, at connect time (`egress.py`).

Allowlist entries are host names compared exactly (case-insensitive, trailing
dot ignored, internationalised names in their IDNA form), or `*.example.com`,
which matches every subdomain of example.com but not example.com itself. An
empty allowlist allows nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from agent_common.errors import ErrorCode, PlatformError

ALLOWED_SCHEMES = frozenset({"http", "https"})


def normalise_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def host_allowed(host: str, allowlist: Sequence[str]) -> bool:
    host = normalise_host(host)
    for entry in allowlist:
        if entry.startswith("*."):
            suffix = "." + normalise_host(entry[2:])
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == normalise_host(entry):
            return True
    return False


def check_url(url: httpx.URL, allowlist: Sequence[str], ports: Sequence[int]) -> None:
    if url.scheme not in ALLOWED_SCHEMES:
        raise PlatformError(
            ErrorCode.TOOL_URL_NOT_ALLOWED, "Only http and https URLs can be fetched.", scheme=url.scheme
        )
    if url.userinfo:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, "URLs with a user name or password are not fetched.")
    host = url.raw_host.decode("ascii", errors="replace")
    if not host:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, "The URL has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    if port not in ports:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, f"Port {port} is not allowed.", port=port)
    if not host_allowed(host, allowlist):
        raise PlatformError(
            ErrorCode.TOOL_URL_NOT_ALLOWED,
            f"The host {normalise_host(host)} is not on the allowlist.",
            host=normalise_host(host),
        )
