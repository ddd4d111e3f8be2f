"""Which URLs `http_get` may fetch: http(s) only, no userinfo, allowed ports,
well-formed hosts, allowlisted hosts. Checked on the parsed `httpx.URL` that is
then fetched, so what is checked is what is fetched.

Allowlist entries are matched by `agent_common.tools.hosts` (exact names or
`*.example.com`; an empty allowlist allows nothing).

The addresses a host resolves to are checked separately, at connect time
(`ssrf_guard.py`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence

import httpx

from agent_common.errors import ErrorCode, PlatformError
from agent_common.tools.hosts import host_allowed as host_allowed
from agent_common.tools.hosts import normalise_host as normalise_host

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS name in its ASCII (IDNA) form: letters, digits, hyphens and underscores in dot-separated labels.
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$"
)


def _refused(message: str, reason: str, **details: object) -> PlatformError:
    return PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, message, reason=reason, **details)


def check_host_form(host: str) -> None:
    """A canonical IP literal or a well-formed DNS name; nothing a resolver could read two ways."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise _refused("IPv6 addresses with a zone are not fetched.", "invalid_host")
        return
    try:
        socket.inet_aton(host)
    except OSError:
        pass
    else:  # decimal, octal, hex or short IPv4 (2130706433, 0177.0.0.1, 0x7f.1, 127.1)
        raise _refused(
            f"The host {host} is an IP address in a non-standard form; write it as a.b.c.d.", "noncanonical_ip"
        )
    if not _HOST_NAME.match(host):
        raise _refused(f"The host {host} is not a valid host name.", "invalid_host")


def check_url(url: httpx.URL, allowlist: Sequence[str], ports: Sequence[int]) -> None:
    if url.scheme not in ALLOWED_SCHEMES:
        raise _refused("Only http and https URLs can be fetched.", "scheme", scheme=url.scheme)
    if url.userinfo:
        raise _refused("URLs with a user name or password are not fetched.", "userinfo")
    raw_host = url.raw_host.decode("ascii", errors="replace")
    if not raw_host:
        raise _refused("The URL has no host.", "invalid_url")
    host = normalise_host(raw_host)
    check_host_form(host)
    port = url.port or DEFAULT_PORTS[url.scheme]
    if port not in ports:
        raise _refused(f"Port {port} is not allowed.", "port", port=port)
    if not host_allowed(host, allowlist):
        raise _refused(f"The host {host} is not on the allowlist.", "not_allowlisted", host=host)
