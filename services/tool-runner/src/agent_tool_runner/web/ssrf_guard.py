"""The SSRF guard: which network addresses a tool may connect to, checked at connect time.

Server-side request forgery (SSRF) is a model, or a page it reads, making the
tool runner fetch an internal address: a cloud metadata endpoint, a private
service, loopback. This module is the one place that refuses them.

The host of a URL is resolved once, inside the connection, and every resolved
address is checked before the socket is opened to the address that was
checked: no second lookup that DNS rebinding could change, and legacy spellings
(`0177.0.0.1`, `2130706433`) are judged by the address they resolve to.

Denied: the IANA special-purpose ranges (loopback, private, link-local,
unique-local, CGNAT, multicast, reserved, documentation, unspecified...), the
IPv4 addresses embedded in IPv6 forms (IPv4-mapped and -compatible, NAT64,
6to4, Teredo), and cloud metadata endpoints. Explicit CIDR lists, because
`ipaddress` flags are not a deny list (100.100.100.200 is not `is_private`,
NAT64 and 6to4 forms of 127.0.0.1 are `is_global`).

`TOOL_HTTP_ALLOW_PRIVATE_NETWORKS=true` opens loopback and the private ranges
(for tests and on-premises tools); metadata endpoints stay closed regardless.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore

from agent_common.errors import ErrorCode, PlatformError

log = logging.getLogger("agent.tool_runner.egress")

# `loop.getaddrinfo`'s shape: (host, port, type=...) -> [(family, type, proto, canonname, sockaddr)].
Resolver = Callable[..., Awaitable[Sequence[tuple[Any, ...]]]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network

# Cloud metadata services: never reachable, whatever the settings.
METADATA_NETWORKS = (
    _v4("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
    _v4("169.254.170.2/32"),  # AWS ECS task metadata
    _v4("100.100.100.200/32"),  # Alibaba Cloud
    _v6("fd00:ec2::254/128"),  # AWS IPv6
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.azure.com", "metadata", "instance-data"})

# Opened by TOOL_HTTP_ALLOW_PRIVATE_NETWORKS: where an operator's own services live.
PRIVATE_NETWORKS = (
    _v4("10.0.0.0/8"),
    _v4("127.0.0.0/8"),
    _v4("172.16.0.0/12"),
    _v4("192.168.0.0/16"),
    _v4("100.64.0.0/10"),  # CGNAT
    _v6("::1/128"),
    _v6("fc00::/7"),  # unique local
)

# Everything else that is not a public unicast address (IANA special-purpose registries).
SPECIAL_NETWORKS = (
    _v4("0.0.0.0/8"),
    _v4("169.254.0.0/16"),  # link-local
    _v4("192.0.0.0/24"),  # IETF protocol assignments
    _v4("192.0.2.0/24"),  # documentation
    _v4("192.31.196.0/24"),
    _v4("192.52.193.0/24"),
    _v4("192.88.99.0/24"),  # 6to4 relay anycast
    _v4("192.175.48.0/24"),
    _v4("198.18.0.0/15"),  # benchmarking
    _v4("198.51.100.0/24"),  # documentation
    _v4("203.0.113.0/24"),  # documentation
    _v4("224.0.0.0/4"),  # multicast
    _v4("240.0.0.0/4"),  # reserved, and the broadcast address
    _v6("::/128"),
    _v6("::/96"),  # IPv4-compatible (deprecated)
    _v6("::ffff:0:0/96"),  # IPv4-mapped (judged by its IPv4 too)
    _v6("64:ff9b:1::/48"),  # local-use NAT64
    _v6("100::/64"),  # discard-only
    _v6("2001::/23"),  # IETF protocol assignments, Teredo included
    _v6("2001:db8::/32"),  # documentation
    _v6("3fff::/20"),  # documentation
    _v6("5f00::/16"),  # segment routing
    _v6("fe80::/10"),  # link-local
    _v6("fec0::/10"),  # site-local (deprecated)
    _v6("ff00::/8"),  # multicast
)

_NAT64 = _v6("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, in the forms that route to them."""
    found: list[ipaddress.IPv4Address] = []
    packed = int(address)
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d, IPv4-compatible
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client)
    return found


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why a connection to `address` is refused (`metadata`, `private`, `special_purpose`),
    or None when it is allowed.

    An IPv6 form that carries an IPv4 address (mapped, compatible, NAT64, 6to4,
    Teredo) is judged by the IPv4 address it carries.
    """
    carried: list[ipaddress.IPv4Address] = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
    judged: list[IPAddress] = [*carried] if carried else [address]
    for candidate in [address, *carried]:
        if any(candidate in network for network in METADATA_NETWORKS):
            return "metadata"
    for candidate in judged:
        if _within(candidate, PRIVATE_NETWORKS):
            if not allow_private:
                return "private"
        elif _within(candidate, SPECIAL_NETWORKS):
            return "special_purpose"
    return None


def _within(address: IPAddress, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


_WHAT = {
    "metadata": "a cloud metadata address",
    "private": "a private or loopback address",
    "special_purpose": "a reserved or special-purpose address",
}


def check_addresses(host: str, addresses: Iterable[IPAddress], allow_private: bool) -> None:
    """Every address must pass, not just the first: a resolver answer that mixes a
    public and a private address is refused whole."""
    for address in addresses:
        reason = refusal(address, allow_private)
        if reason is not None:
            # The address goes to the operators' log, not into the error: a model or a
            # user must not learn what internal names resolve to.
            log.warning("tool connection refused", extra={"host": host, "address": str(address), "reason": reason})
            raise PlatformError(
                ErrorCode.TOOL_URL_NOT_ALLOWED,
                f"The host {host} resolves to {_WHAT[reason]}, which tools may not reach.",
                host=host,
                reason=reason,
            )


def check_host_name(host: str) -> None:
    if host.rstrip(".").lower() in METADATA_HOSTS:
        raise PlatformError(
            ErrorCode.TOOL_URL_NOT_ALLOWED,
            f"The host {host} is a cloud metadata service.",
            host=host,
            reason="metadata",
        )


class HostNotFound(httpcore.ConnectError):
    """The host's name does not resolve (DNS): told apart from a refused connection, for the log and the model."""


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, with every TCP connection checked first.

    httpcore still knows the host name, so TLS verification and SNI use it; only
    the socket goes to the address that was checked.
    """

    def __init__(
        self,
        allow_private: bool,
        inner: httpcore.AsyncNetworkBackend | None = None,
        getaddrinfo: Resolver | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._inner = inner or httpcore.AnyIOBackend()
        self._getaddrinfo = getaddrinfo  # the event loop's when None; tests pass a resolver of their own

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        check_host_name(host)
        addresses = await self._resolve(host, port, timeout)
        check_addresses(host, addresses, self._allow_private)
        last_error: Exception | None = None
        for address in addresses:  # each one checked above; never a second lookup
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"{host} has no address")

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            async with asyncio.timeout(timeout):
                resolve = self._getaddrinfo or asyncio.get_running_loop().getaddrinfo
                infos = await resolve(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from exc
        except (socket.gaierror, UnicodeError) as exc:
            raise HostNotFound(f"{host} does not resolve: {exc}") from exc
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise HostNotFound(f"{host} has no address")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise PlatformError(ErrorCode.TOOL_URL_NOT_ALLOWED, "Tools do not connect to local sockets.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
