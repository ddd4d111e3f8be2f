"""The platform under test in both modes, with a page server the allowlist names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import Platform, distributed_platform, embedded_platform
from tests.support.web import pages_app, serve_in_thread


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    with serve_in_thread(pages_app()) as url:
        yield url


def platform_env(pages_url: str) -> dict[str, str]:
    # The page server listens on 127.0.0.1: the allowlist names exactly that host,
    # so `localhost` (same server, other name) is refused. Loopback is a private
    # address, so the tests open private networks explicitly, and the server's port.
    return {
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1",
        "TOOL_HTTP_ALLOWED_PORTS": str(httpx.URL(pages_url).port),
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
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
