"""The platform under test in both modes, with a page server the allowlist names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.platform import Platform, bearer, create_api_key, distributed_platform, embedded_platform
from tests.support.services import database_of_its_own
from tests.support.traces import TraceCollector, exporting_to, trace_collector
from tests.support.web import PAGES_BIG_BYTES, free_tcp_port

# Nothing listens on this port: a connection to it is refused.
DEAD_PORT = free_tcp_port()

# Limits far above what the suite sends: the rate-limit tests use gateways of their own.
GENEROUS_LIMITS = {
    "RATE_LIMIT_USER_PER_MINUTE": "100000",
    "RATE_LIMIT_IP_PER_MINUTE": "100000",
    "RATE_LIMIT_STREAMS_PER_USER": "1000",
}

# Two more gateways of the distributed platform, replicas with a tight user limit, sharing its Redis:
# the limit must hold across them (test_rate_limits.py).
LIMITED_USER_PER_MINUTE = 5
LIMITED_GATEWAYS = ("limited-gateway-1", "limited-gateway-2")


def platform_env(pages_url: str, keys_file: Path) -> dict[str, str]:
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
        # The page server fails on purpose, test after test: only a run of failures opens its breaker.
        "TOOL_HTTP_BREAKER_FAILURE_RATE": "1.0",
        # Every page is on that one host, fetched by many runs at once (they no longer wait for
        # each other's partitions): the per-host bulkhead is tested on its own, not here.
        "TOOL_HTTP_PER_HOST_CONCURRENCY": "64",
        "LOG_FORMAT": "json",
        # Never the developer's own key file: no key exists, so the embedded platform is anonymous.
        "AUTH_KEYS_FILE": str(keys_file),
        # A reindex id no replica heard of is 404 after this wait (the tests' Kafka delivers in far less).
        "GATEWAY_REINDEX_STATUS_WAIT_S": "3",
        **GENEROUS_LIMITS,
    }


def documents_root(root: Path) -> Path:
    """The distributed platform's RAG_INDEXER_ALLOWED_ROOTS, with two small documents in `office/`
    (tests that need other documents make a folder of their own beside it)."""
    office = root / "office"
    office.mkdir()
    (office / "parking.md").write_text("# Parking\n\nParking is free for visitors on weekends.\n")
    (office / "lunch.txt").write_text("Lunch is served from noon to two.\n")
    return root


@pytest.fixture(scope="session")
def embedded(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    keys_file = tmp_path_factory.mktemp("embedded-keys") / "api-keys.json"
    with embedded_platform(platform_env(pages_url, keys_file)) as platform:
        yield platform


@pytest.fixture(scope="session")
def traces() -> Iterator[TraceCollector]:
    """Where the distributed platform's services export their spans (OTLP/HTTP)."""
    with trace_collector() as collector:
        yield collector


@pytest.fixture(scope="session")
def distributed(
    pages_url: str,
    kafka_bootstrap: str,
    redis_url: str,
    postgres_url: str,
    traces: TraceCollector,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("distributed-logs")
    # The usage ledger in a database of its own on the session's PostgreSQL.
    with (
        database_of_its_own(postgres_url, prefix="usage") as ledger_url,
        distributed_platform(
            {**platform_env(pages_url, log_dir / "unused-keys.json"), **exporting_to(traces)},
            kafka=kafka_bootstrap,
            redis_url=redis_url,
            log_dir=log_dir,
            documents=documents_root(tmp_path_factory.mktemp("distributed-docs")),
            ledger_url=ledger_url,
            extra_gateways={
                name: {"RATE_LIMIT_USER_PER_MINUTE": str(LIMITED_USER_PER_MINUTE)} for name in LIMITED_GATEWAYS
            },
        ) as platform,
    ):
        yield platform


@pytest.fixture(
    scope="session", params=["embedded", pytest.param("distributed", marks=[pytest.mark.kafka, pytest.mark.redis])]
)
def platform(request: pytest.FixtureRequest) -> Platform:
    result: Platform = request.getfixturevalue(request.param)
    return result


@dataclass
class Secured:
    """A platform with API keys: clients of two users, and the environment that reaches its key store."""

    platform: Platform
    alice: dict[str, str]
    bob: dict[str, str]
    key_env: dict[str, str]


@pytest.fixture(scope="session")
def embedded_secured(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    keys_file = tmp_path_factory.mktemp("secured-keys") / "api-keys.json"
    key_env = {"AUTH_KEYS_FILE": str(keys_file)}
    alice, bob = (bearer(create_api_key(key_env, user)) for user in ("alice", "bob"))
    with embedded_platform(platform_env(pages_url, keys_file)) as platform:
        yield Secured(platform, alice, bob, key_env)


@pytest.fixture(
    scope="session",
    params=["embedded", pytest.param("distributed", marks=[pytest.mark.kafka, pytest.mark.redis])],
)
def secured(request: pytest.FixtureRequest) -> Secured:
    if request.param == "embedded":
        result: Secured = request.getfixturevalue("embedded_secured")
        return result
    platform: Platform = request.getfixturevalue("distributed")
    key_env = {"REDIS_URL": request.getfixturevalue("redis_url")}
    return Secured(platform, bearer(create_api_key(key_env, "alice")), bearer(create_api_key(key_env, "bob")), key_env)
