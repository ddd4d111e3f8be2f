"""The SSRF guard (`web/ssrf_guard.py`): where `http_get` may connect, each resolved address checked."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpcore
import pytest

from agent_common.errors import ErrorCode, PlatformError
from agent_common.messages import ToolOutcome
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import Executor
from agent_tool_runner.settings import ToolSettings
from agent_tool_runner.web.ssrf_guard import GuardedNetworkBackend, refusal
from tests.tool_runner.conftest import error_code, fetch, settings_for

REFUSED_ALWAYS = [
    "169.254.169.254",  # cloud metadata
    "100.100.100.200",  # Alibaba metadata, not `is_private`
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:169.254.169.254",
    "0.0.0.0",
    "::",
    "192.0.0.192",  # `is_global` in ipaddress, special-purpose all the same
    "192.0.2.10",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "fe80::1",
    "ff02::1",
    "2001:db8::1",
]
REFUSED_UNLESS_PRIVATE_ALLOWED = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64, `is_global` in ipaddress
    "2002:7f00:1::",  # 6to4, `is_global` in ipaddress
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo carrying 127.0.0.1
    "::ffff:10.0.0.1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED_ALWAYS + REFUSED_UNLESS_PRIVATE_ALLOWED)
def test_special_and_private_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
def test_metadata_and_special_addresses_stay_refused_when_private_networks_are_opened(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


@pytest.mark.parametrize("address", REFUSED_UNLESS_PRIVATE_ALLOWED)
def test_opening_private_networks_opens_loopback_and_private_ranges(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


async def fetch_with(settings: ToolSettings, url: str) -> ToolOutcome:
    ctx = ToolContext.create(settings)
    try:
        return await fetch(Executor(ctx), url)
    finally:
        await ctx.aclose()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"])
async def test_a_loopback_server_is_refused_at_connect_time_however_it_is_named(host: str, upstream_port: int) -> None:
    """Allowlisted and on an allowed port: only the address check stands between the call and loopback."""
    settings = settings_for(upstream_port, http_allowlist=[host.strip("[]")], http_allow_private_networks=False)
    outcome = await fetch_with(settings, f"http://{host}:{upstream_port}/page")
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED
    assert outcome.error is not None and outcome.error.details["reason"] == "private"


async def test_the_address_a_name_resolves_to_goes_to_the_log_not_to_the_model(
    upstream_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(upstream_port, http_allowlist=["localhost"], http_allow_private_networks=False)
    outcome = await fetch_with(settings, f"http://localhost:{upstream_port}/page")
    assert outcome.error is not None
    seen_by_model = outcome.for_model()
    assert "127.0.0.1" not in seen_by_model and "::1" not in seen_by_model
    assert any(getattr(r, "address", None) in ("127.0.0.1", "::1") for r in caplog.records)


async def test_the_same_server_is_reached_when_private_networks_are_opened(upstream_port: int) -> None:
    outcome = await fetch_with(settings_for(upstream_port), f"http://127.0.0.1:{upstream_port}/page")
    assert outcome.ok, outcome.error


async def test_a_port_off_the_list_is_refused(upstream_port: int) -> None:
    outcome = await fetch_with(
        settings_for(upstream_port, http_allowed_ports=[80]), f"http://127.0.0.1:{upstream_port}/"
    )
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED
    assert outcome.error is not None and outcome.error.details["port"] == upstream_port


async def test_a_metadata_host_name_is_refused_even_when_allowlisted(upstream_port: int) -> None:
    settings = settings_for(upstream_port, http_allowlist=["metadata.google.internal"])
    outcome = await fetch_with(settings, "http://metadata.google.internal/computeMetadata/v1/")
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED
    assert outcome.error is not None and outcome.error.details["reason"] == "metadata"


# ---- the connection goes to the address that was checked ----


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the socket layer only: records where a connection would go, then refuses it."""

    def __init__(self) -> None:
        self.connected_to: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.connected_to.append(host)
        raise httpcore.ConnectError("recorded")


class RebindingResolver:
    """A DNS server that answers a public address first and loopback afterwards."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups = 0

    async def __call__(self, host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        answer = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answer]


async def test_one_lookup_per_connection_and_the_socket_goes_to_the_checked_address() -> None:
    resolver = RebindingResolver(["93.184.215.14"], ["127.0.0.1"])
    inner = RecordingBackend()
    backend = GuardedNetworkBackend(allow_private=False, inner=inner, getaddrinfo=resolver)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("rebind.example", 80, timeout=1)
    assert resolver.lookups == 1
    assert inner.connected_to == ["93.184.215.14"]  # the address, never the name a second lookup could change


async def test_a_resolver_answer_with_any_forbidden_address_is_refused_whole() -> None:
    inner = RecordingBackend()
    resolver = RebindingResolver(["93.184.215.14", "10.0.0.7"])
    backend = GuardedNetworkBackend(allow_private=False, inner=inner, getaddrinfo=resolver)
    with pytest.raises(PlatformError) as refused:
        await backend.connect_tcp("mixed.example", 80, timeout=1)
    assert refused.value.info.details["reason"] == "private"
    assert inner.connected_to == []


async def test_every_checked_address_is_tried_in_turn() -> None:
    inner = RecordingBackend()
    resolver = RebindingResolver(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    backend = GuardedNetworkBackend(allow_private=False, inner=inner, getaddrinfo=resolver)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("twice.example", 80, timeout=1)
    assert inner.connected_to == ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


async def test_a_redirect_to_a_name_that_resolves_to_metadata_is_refused(upstream: str, upstream_port: int) -> None:
    settings = settings_for(upstream_port, http_allowlist=["127.0.0.1", "*.allowed.test"])
    ctx = ToolContext.create(settings)
    resolver = RebindingResolver(["169.254.169.254"])
    ctx.http._transport._pool._network_backend = GuardedNetworkBackend(  # type: ignore[attr-defined]
        allow_private=True, getaddrinfo=resolver
    )
    try:
        outcome = await fetch(Executor(ctx), f"{upstream}/redirect-away?to=http://evil.allowed.test/latest/")
    finally:
        await ctx.aclose()
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED
    assert outcome.error is not None and outcome.error.details["reason"] == "metadata"
