"""The chaos tier's infrastructure: a Kafka broker and a Redis of its own, each behind a
fault proxy, a slow tool upstream, the platform's settings, and where results go.

The broker advertises the proxy's port, so clients reconnect through the proxy after
bootstrap too. Redis keeps an append-only file as production's does
(deploy/redis/redis.conf: `appendonly yes`, `appendfsync everysec`), so a kill and a
restart keep what was written, up to what that policy may lose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.chaos.load import GATEWAY_DEADLINE_S, TOKEN_DELAY_MS, Seen, slow_pages_app
from tests.chaos.results import Results, results_dir
from tests.support.fault_proxy import FaultProxy, running_in_thread
from tests.support.services import (
    KafkaServer,
    RedisServer,
    ServiceUnavailable,
    require_service,
    start_kafka,
    start_redis,
)
from tests.support.web import free_tcp_port, serve_in_thread


@dataclass
class ChaosKafka:
    server: KafkaServer
    proxy: FaultProxy

    @property
    def bootstrap(self) -> str:
        """What the services are given: the proxy (and, after bootstrap, the broker says the same)."""
        return self.proxy.address


@dataclass
class ChaosRedis:
    server: RedisServer
    proxy: FaultProxy

    @property
    def url(self) -> str:
        return f"redis://{self.proxy.address}/0"


@pytest.fixture(scope="session")
def chaos_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosKafka]:
    proxy_port = free_tcp_port()
    try:
        server = start_kafka(tmp_path_factory.mktemp("chaos-kafka"), advertised_port=proxy_port)
    except ServiceUnavailable as exc:
        require_service("Kafka", str(exc))
    try:
        with running_in_thread(FaultProxy("127.0.0.1", server.broker_port, port=proxy_port)) as proxy:
            yield ChaosKafka(server, proxy)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chaos_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRedis]:
    try:
        server = start_redis(tmp_path_factory.mktemp("chaos-redis"), appendfsync="everysec")
    except ServiceUnavailable as exc:
        require_service("Redis", str(exc))
    try:
        with running_in_thread(FaultProxy("127.0.0.1", server.port)) as proxy:
            yield ChaosRedis(server, proxy)
    finally:
        server.resume()  # never leave a stopped process behind
        server.stop()


@pytest.fixture(scope="session")
def slow_pages_url() -> Iterator[str]:
    with serve_in_thread(slow_pages_app()) as url:
        yield url


@pytest.fixture(scope="session")
def chaos_results() -> Results:
    return Results(results_dir())


TOOL_TIMEOUT_S = 8  # the slow page takes 3 s; a loaded machine must not make it a timeout


def chaos_env(pages_url: str, log_dir: Path, *, redis_bound_s: float, bus_bound_s: float) -> dict[str, str]:
    """The chaos platform's settings: paced answers, a slow tool allowed, limits far above the load."""
    return {
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1",
        "TOOL_HTTP_ALLOWED_PORTS": str(httpx.URL(pages_url).port),
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        "TOOL_HTTP_TIMEOUT_S": str(TOOL_TIMEOUT_S),
        # Above the tool's deadline plus the bus's bound (docs/reliability.md): a broker restart under
        # the bound holds tool results that long, and must not turn them into timeouts.
        "ORCHESTRATOR_TOOL_RESULT_TIMEOUT_S": str(TOOL_TIMEOUT_S + bus_bound_s),
        "TOOL_HTTP_PER_HOST_CONCURRENCY": "64",
        "RATE_LIMIT_USER_PER_MINUTE": "100000",
        "RATE_LIMIT_IP_PER_MINUTE": "100000",
        "RATE_LIMIT_STREAMS_PER_USER": "1000",
        "LOG_FORMAT": "json",
        "AUTH_KEYS_FILE": str(log_dir / "unused-keys.json"),
        "GATEWAY_REQUEST_TIMEOUT_S": str(GATEWAY_DEADLINE_S),
        "OFFLINE_MODEL_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS),
        "REDIS_RIDE_THROUGH_S": str(redis_bound_s),
        "BUS_RIDE_THROUGH_S": str(bus_bound_s),
    }


def expected_answers(baseline: list[Seen]) -> dict[str, Seen]:
    """Message -> its fault-free run; every one of them must have ended `done`."""
    failed = [(s.phase, s.message, s.outcome, s.failure or s.refusal) for s in baseline if s.outcome != "done"]
    assert not failed, f"the fault-free pass failed: {failed}"
    return {s.message: s for s in baseline}
