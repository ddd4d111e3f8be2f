"""The platform under test in both modes, with a page server the allowlist names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import Platform, distributed_platform, embedded_platform
from tests.support.web import PAGES_BIG_BYTES, free_tcp_port, pages_app, serve_in_thread


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    with serve_in_thread(pages_app()) as url:
        yield url


# Nothing listens on this port: a connection to it is refused.
DEAD_PORT = free_tcp_port()


def platform_env(pages_url: str) -> dict[str, str]:
    # The page server listens on 127.0.0.1: the allowlist names exactly that host,
    # so `localhost` (same server, other name) is refused; `*.invalid` names never
    # resolve (RFC 6761). Loopback is a private address, so the tests open private
    # networks explicitly, and the server's port. A short tool deadline and a small
    # size limit keep the timeout and too-large outcomes quick.
    return {
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1,*.invalid",
        "TOOL_HTTP_ALLOWED_PORTS": f"80,{httpx.URL(pages_url).port},{DEAD_PORT}",
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        "TOOL_HTTP_TIMEOUT_S": "1",
        "TOOL_HTTP_MAX_RESPONSE_BYTES": str(PAGES_BIG_BYTES // 2),
        "LOG_FORMAT": "json",
    }


@pytest.fixture(scope="session")
def embedded(pages_url: str) -> Iterator[Platform]:
    with embedded_platform(platform_env(pages_url)) as platform:
        yield platform


@pytest.fixture(scope="session")
def distributed(
    pages_url: str, kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("distributed-logs")
    with distributed_platform(
        platform_env(pages_url), kafka=kafka_bootstrap, redis_url=redis_url, log_dir=log_dir
    ) as platform:
        yield platform


@pytest.fixture(
    scope="session", params=["embedded", pytest.param("distributed", marks=[pytest.mark.kafka, pytest.mark.redis])]
)
def platform(request: pytest.FixtureRequest) -> Platform:
    result: Platform = request.getfixturevalue(request.param)
    return result
