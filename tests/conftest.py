"""Session fixtures shared by every test tier.

Real services: `redis_url`, `kafka_bootstrap`, `postgres_url` and `model_server` start
Redis, Kafka, PostgreSQL (with pgvector) and llama.cpp's server (with a small model) once per session, on free loopback
ports, only when a test asks for them, and stop them at the end. Where the
machine cannot run one, its tests are skipped with the reason; with `CI=true`
that is a failure instead: CI never skips a tier.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.distribution import SuiteScheduling, give_operations_their_ids, queue_slowest_first, repeated_ids
from tests.support.llama_server import MODEL_ALIAS
from tests.support.services import (
    TIER_SKIPPED,
    ModelServer,
    ServiceUnavailable,
    kafka_of_its_own,
    redis_of_its_own,
    require_service,
    start_model_server,
    start_postgres,
)
from tests.support.traces import trace_this_process
from tests.support.web import pages_app, serve_in_thread

# A failed test's report carries its platform's service logs; the run leaves the checkout's own state alone.
pytest_plugins = ["tests.support.failure_reports", "tests.support.checkout_state"]


def pytest_configure(config: pytest.Config) -> None:
    trace_this_process()
    # Every app a test starts serves its metrics port on a free port (read back from
    # `app.state.metrics_port`), so apps alive at once never contend for port + 1000.
    os.environ.setdefault("METRICS_PORT", "0")


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    """The page server the platforms' tool allowlists name (`tests/support/web.py`'s pages): a thread
    of the worker's own, started once, nothing to share between tiers."""
    with serve_in_thread(pages_app()) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    with redis_of_its_own(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if bootstrap := os.environ.get("TEST_KAFKA_BOOTSTRAP"):
        yield bootstrap
        return
    with kafka_of_its_own(tmp_path_factory.mktemp("kafka")) as server:
        yield server.bootstrap


@pytest.fixture
async def kafka_admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client of the session's broker: its consumer groups (`tests/support/kafka_groups.py`)."""
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server with pgvector (`tests/support/services.py`); `TEST_POSTGRES_URL` names
    one already running instead (its `postgres` database must allow `CREATE EXTENSION vector`)."""
    if url := os.environ.get("TEST_POSTGRES_URL"):
        yield url
        return
    try:
        server = start_postgres()
    except ServiceUnavailable as exc:
        require_service("PostgreSQL", str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """llama.cpp's OpenAI-compatible server with SmolLM2-135M (`tests/support/llama_server.py`).
    `TEST_MODEL_SERVER_URL` (`http://host:port/v1`) names one already started that way instead."""
    if url := os.environ.get("TEST_MODEL_SERVER_URL"):
        yield ModelServer(base_url=url, model=MODEL_ALIAS, ctx=int(os.environ.get("TEST_MODEL_SERVER_CTX", "1024")))
        return
    try:
        server = start_model_server(tmp_path_factory.mktemp("llama-server"))
    except ServiceUnavailable as exc:
        require_service("Model server", str(exc))
    try:
        yield server
    finally:
        server.stop()


def _system_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        require_service(name, f"{name} not found (Debian package {package})")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus's `promtool`, for the rule and exposition checks."""
    return _system_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def alertmanager() -> str:
    """The Alertmanager binary, to check the routing and inhibition it really does."""
    return _system_tool("prometheus-alertmanager", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def amtool() -> str:
    return _system_tool("amtool", "prometheus-alertmanager")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> SuiteScheduling:
    """Under xdist (`make test`), a tier that starts something once for itself runs on one worker."""
    return SuiteScheduling(config, log)  # type: ignore[arg-type]  # xdist's `Producer`, untyped here


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by shared fixture, which the sort keeps
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    give_operations_their_ids(items)
    if repeated := repeated_ids(items):
        raise pytest.UsageError(f"tests collected under one id (xdist would run one of each): {repeated}")
    queue_slowest_first(items)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Read from the skip reports, not from this process's state: under xdist the skips happen in
    # the workers, and only their reports reach the process that prints the summary.
    skipped_tiers: dict[str, str] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and (found := TIER_SKIPPED.search(str(longrepr[2]))):
            skipped_tiers.setdefault(found["tier"], found["reason"])
    for tier, reason in skipped_tiers.items():
        terminalreporter.write_line(f"SKIPPED TIER: {tier}: {reason}", yellow=True, bold=True)
