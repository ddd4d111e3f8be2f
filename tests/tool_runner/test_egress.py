"""Where `http_get` may connect: every resolved address is checked at connect time."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from agent_common.errors import ErrorCode
from agent_common.messages import ToolCallRequested, ToolOutcome
from agent_common.settings import ToolSettings
from agent_tool_runner.context import ToolContext
from agent_tool_runner.egress import refusal
from agent_tool_runner.executor import execute
from agent_tool_runner.service import new_http_client

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


def call(url: str) -> ToolCallRequested:
    return ToolCallRequested(
        request_id="req_1", session_id="ses_1", user_id="u", call_id="c1", tool="http_get",
        arguments={"url": url}, deadline_at=time.time() + 10,
    )  # fmt: skip


async def fetch(settings: ToolSettings, url: str) -> ToolOutcome:
    client = new_http_client(settings)
    try:
        return await execute(call(url), ToolContext(settings=settings, http=client))
    finally:
        await client.aclose()


@pytest.fixture
def port(upstream: str) -> int:
    return httpx.URL(upstream).port or 0


def closed(hosts: list[str], port: int) -> ToolSettings:
    """Private networks closed (the default), the hosts allowlisted: only the address check stands."""
    return ToolSettings(http_allowlist=hosts, http_allowed_ports=[port], http_allow_private_networks=False)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "[::1]", "[::ffff:127.0.0.1]"],
)
async def test_a_loopback_server_is_refused_at_connect_time_however_its_address_is_spelled(
    host: str, port: int
) -> None:
    outcome = await fetch(closed([host.strip("[]")], port), f"http://{host}:{port}/page")
    assert outcome.error is not None and outcome.error.code == ErrorCode.TOOL_URL_NOT_ALLOWED, outcome
    assert "address" in outcome.error.message


async def test_the_same_server_is_reached_when_private_networks_are_opened(port: int) -> None:
    settings = ToolSettings(http_allowlist=["127.0.0.1"], http_allowed_ports=[port], http_allow_private_networks=True)
    outcome = await fetch(settings, f"http://127.0.0.1:{port}/page")
    assert outcome.ok, outcome.error


async def test_a_port_off_the_list_is_refused(port: int) -> None:
    settings = ToolSettings(http_allowlist=["127.0.0.1"], http_allowed_ports=[80], http_allow_private_networks=True)
    outcome = await fetch(settings, f"http://127.0.0.1:{port}/page")
    assert outcome.error is not None and outcome.error.code == ErrorCode.TOOL_URL_NOT_ALLOWED
    assert outcome.error.details["port"] == port


async def test_a_metadata_host_name_is_refused_even_when_allowlisted() -> None:
    settings = ToolSettings(http_allowlist=["metadata.google.internal"], http_allow_private_networks=True)
    outcome = await fetch(settings, "http://metadata.google.internal/computeMetadata/v1/")
    assert outcome.error is not None and outcome.error.code == ErrorCode.TOOL_URL_NOT_ALLOWED


@pytest.fixture
async def redirecting_ctx(upstream: str) -> AsyncIterator[ToolContext]:
    settings = ToolSettings(
        http_allowlist=["127.0.0.1", "localhost"],
        http_allowed_ports=[httpx.URL(upstream).port or 0],
        http_allow_private_networks=True,
    )
    client = new_http_client(settings)
    yield ToolContext(settings=settings, http=client)
    await client.aclose()


async def test_a_redirect_to_a_metadata_address_is_refused(redirecting_ctx: ToolContext, upstream: str) -> None:
    outcome = await execute(
        call(f"{upstream}/redirect-away?to=http://169.254.169.254/latest/meta-data/"), redirecting_ctx
    )
    assert outcome.error is not None and outcome.error.code == ErrorCode.TOOL_URL_NOT_ALLOWED
