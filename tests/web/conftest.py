"""The chat page in a real browser: Debian's chromium, headless, driven by Playwright,
against the platform served for real in both modes: `platform` is the embedded default and
the distributed mode in turn (each started once for the tier), `keyed` the same for a gateway
where keys exist and the rate limit is tight. Without chromium the tier is skipped with a
reason; in CI that is a failure. Each test's screenshots are kept under the run's pytest
folder, `web-screenshots/` (`WEB_SCREENSHOTS_DIR` to choose another)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.support.fault_proxy import FaultProxy, running_in_thread
from tests.support.platform import Platform, create_api_key, distributed_platform, embedded_platform
from tests.support.services import database_of_its_own, kafka_of_its_own, redis_of_its_own, require_service
from tests.support.web import free_tcp_port

# Nothing listens here: a tool call to it fails (TOOL_UPSTREAM_UNREACHABLE).
DEAD_PORT = free_tcp_port()
GENEROUS = {"RATE_LIMIT_USER_PER_MINUTE": "100000", "RATE_LIMIT_IP_PER_MINUTE": "100000"}
# The page loads and one message pass, the second message is refused with 429.
TIGHT = {"RATE_LIMIT_USER_PER_MINUTE": "3"}
MODES = ["embedded", pytest.param("distributed", marks=[pytest.mark.kafka, pytest.mark.redis])]
# The distributed platform's other gateways: one with the tight limit, one without the document store.
LIMITED_GATEWAY = "gateway-limited"
BLIND_GATEWAY = "gateway-without-documents"

Screenshot = Callable[[Page, str], Path]

# How long a page action or an `expect` waits. Room for a loaded machine: the distributed mode's
# hops are processes sharing two cores with the other test worker (a game day starting its
# brokers, say). The two are set apart in Playwright: `expect` alone kept its 5 s, and an answer
# with a tool call, asked while the other worker started a fleet, once took longer than that.
PATIENCE_MS = 30_000
expect.set_options(timeout=PATIENCE_MS)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Per module, not per session: Playwright's sync API runs an event loop on this thread
    # while it is open, and the suite's async tests (in other modules) need the thread free.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        require_service("Browser", "chromium not found (Debian package chromium)")
    browser = playwright.chromium.launch(executable_path=executable, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile in English (no key, no language kept from another test)."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 800})
    context.set_default_timeout(PATIENCE_MS)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("WEB_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "web-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(screenshot_dir: Path, request: pytest.FixtureRequest) -> Screenshot:
    """Save the page as `<test>-<state>.png`: one per state a test reaches."""

    def save(page: Page, state: str) -> Path:
        path = screenshot_dir / f"{request.node.name}-{state}.png".replace("/", "_")
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def platform_env(pages_url: str, keys_file: Path, **extra: str) -> dict[str, str]:
    return {
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1",
        "TOOL_HTTP_ALLOWED_PORTS": f"{httpx.URL(pages_url).port},{DEAD_PORT}",
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        # Room for a loaded machine: the failing call's port refuses at once, it never waits.
        "TOOL_HTTP_TIMEOUT_S": "5",
        "AUTH_KEYS_FILE": str(keys_file),
        **GENEROUS,
        **extra,
    }


def documents_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The platform's RAG_INDEXER_ALLOWED_ROOTS: the server folder reindex commands may name."""
    return tmp_path_factory.mktemp("web-documents")


@pytest.fixture(scope="package")
def embedded(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The embedded default as `make run` serves it: no key exists, so callers are anonymous."""
    keys_file = tmp_path_factory.mktemp("web-keys") / "api-keys.json"
    with embedded_platform(
        platform_env(pages_url, keys_file), documents=documents_folder(tmp_path_factory)
    ) as platform:
        yield platform


@pytest.fixture(scope="package")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this tier's own: the suite's shared one has other platforms' tool runners in the
    same consumer groups (the end-to-end tier's, for the whole session), which would take this
    platform's tool calls and refuse this tier's page server, not on their allowlist."""
    with kafka_of_its_own(tmp_path_factory.mktemp("web-kafka")) as server:
        yield server.bootstrap


@pytest.fixture(scope="package")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of this tier's own: its sessions, keys and rate-limit counters meet no other platform's."""
    with redis_of_its_own(tmp_path_factory.mktemp("web-redis")) as server:
        yield server.url


@pytest.fixture(scope="package")
def distributed(
    pages_url: str, own_kafka: str, own_redis: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """Every service its own process over this tier's Kafka and Redis, documents in a PostgreSQL
    database of its own (written by the indexer, read by the orchestrator, listed by the gateway).
    Its clients use a `reindex`-scoped key of `web-user`, typed into the page's key dialog. Beside
    `gateway`: LIMITED_GATEWAY with the tight rate limit, and BLIND_GATEWAY without the store."""
    log_dir = tmp_path_factory.mktemp("web-distributed-logs")
    with (
        database_of_its_own(postgres_url, "web") as store_url,
        distributed_platform(
            platform_env(pages_url, log_dir / "unused-keys.json"),
            kafka=own_kafka,
            redis_url=own_redis,
            log_dir=log_dir,
            orchestrators=1,
            user="web-user",
            scopes=["reindex"],
            documents=documents_folder(tmp_path_factory),
            document_store=store_url,
            extra_gateways={LIMITED_GATEWAY: TIGHT, BLIND_GATEWAY: {}},
        ) as platform,
    ):
        yield platform


@pytest.fixture(scope="package", params=MODES)
def platform(request: pytest.FixtureRequest) -> Platform:
    """Each mode in turn, for every test of the page's list."""
    chosen: Platform = request.getfixturevalue(request.param)
    return chosen


@pytest.fixture(scope="package")
def proxied(platform: Platform) -> Iterator[tuple[str, FaultProxy]]:
    """The platform's gateway behind a TCP proxy that can cut the browser's connections."""
    port = httpx.URL(platform.base_url).port
    assert port is not None
    with running_in_thread(FaultProxy("127.0.0.1", port)) as proxy:
        yield f"http://127.0.0.1:{proxy.port}", proxy


@pytest.fixture(scope="package")
def embedded_keyed(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str]]:
    keys_file = tmp_path_factory.mktemp("web-keys") / "api-keys.json"
    key = create_api_key({"AUTH_KEYS_FILE": str(keys_file)}, "web-user")
    with embedded_platform(platform_env(pages_url, keys_file, **TIGHT)) as platform:
        yield platform, key


@pytest.fixture(scope="package", params=MODES)
def keyed(request: pytest.FixtureRequest) -> tuple[Platform, str]:
    """A gateway where a key exists, so every call needs one, with a tight rate limit, and a key
    for it: an embedded platform of its own, or the distributed platform's LIMITED_GATEWAY with
    a key of a user nobody else is (the limit counts per user, in the shared Redis)."""
    if request.param == "embedded":
        embedded: tuple[Platform, str] = request.getfixturevalue("embedded_keyed")
        return embedded
    distributed: Platform = request.getfixturevalue("distributed")
    key = create_api_key({"REDIS_URL": request.getfixturevalue("own_redis")}, "web-limited")
    return Platform(mode="distributed", base_url=distributed.services[LIMITED_GATEWAY]), key


def slow_next_answer(platform: Platform, delay_ms: int) -> None:
    """The offline model streams its next answer with `delay_ms` between tokens (the embedded
    default's is mounted at `/offline`, the distributed mode's is a process of its own)."""
    model = f"{platform.base_url}/offline" if platform.mode == "embedded" else platform.services["offline-model"]
    response = httpx.post(f"{model}/admin/faults", json={"kind": "slow", "delay_ms": delay_ms, "count": 1})
    assert response.status_code in (200, 201, 202), response.text
