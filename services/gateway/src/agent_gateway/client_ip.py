"""The client's IP address: the socket peer, or a configured proxy header.

A header such as `X-Forwarded-For` is written by whoever sends the request, so
it is trusted only when the operator names it (`GATEWAY_CLIENT_IP_HEADER`) and
says how many proxies of theirs append to it (`GATEWAY_TRUSTED_PROXY_HOPS`):
the address those proxies saw is that many entries from the right. Anything
left of it may be forged by the client and is ignored.
"""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

UNKNOWN = "unknown"


def client_ip(scope: Scope, header: str | None, trusted_hops: int) -> str:
    peer = scope.get("client")
    peer_ip = str(peer[0]) if peer else UNKNOWN
    if not header:
        return peer_ip
    wanted = header.lower().encode("latin-1")
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == wanted]
    entries = [e.strip() for value in values for e in value.split(",") if e.strip()]
    if len(entries) < trusted_hops:
        return peer_ip  # not through our proxies: the socket peer is the client
    candidate = entries[-trusted_hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer_ip
