"""The chat page in a real browser: Debian's chromium, headless, driven by Playwright,
against the platform served for real (the embedded default here; the distributed mode in
`test_distributed_page.py`). Without chromium the tier is skipped with a reason; in CI
that is a failure. Each test's screenshots are kept under the run's pytest folder,
`web-screenshots/` (`WEB_SCREENSHOTS_DIR` to choose another)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.fault_proxy import FaultProxy, running_in_thread
from tests.support.platform import Platform, create_api_key, embedded_platform
from tests.support.services import require_service
from tests.support.web import free_tcp_port, pages_app, serve_in_thread

# Nothing listens here: a tool call to it fails (TOOL_UPSTREAM_UNREACHABLE).
DEAD_PORT = free_tcp_port()
GENEROUS = {"RATE_LIMIT_USER_PER_MINUTE": "100000", "RATE_LIMIT_IP_PER_MINUTE": "100000"}

Screenshot = Callable[[Page, str], Path]


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
    context.set_default_timeout(20_000)
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


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    with serve_in_thread(pages_app()) as url:
        yield url


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


@pytest.fixture(scope="session")
def embedded(pages_url: str) -> Iterator[Platform]:
    """The embedded default as `make run` serves it: no key exists, so callers are anonymous."""
    keys_file = Path(tempfile.mkdtemp(prefix="web-keys-")) / "api-keys.json"
    with embedded_platform(platform_env(pages_url, keys_file)) as platform:
        yield platform


@pytest.fixture(scope="session")
def proxied(embedded: Platform) -> Iterator[tuple[str, FaultProxy]]:
    """The embedded platform behind a TCP proxy that can cut the browser's connections."""
    port = httpx.URL(embedded.base_url).port
    assert port is not None
    with running_in_thread(FaultProxy("127.0.0.1", port)) as proxy:
        yield f"http://127.0.0.1:{proxy.port}", proxy


@pytest.fixture(scope="session")
def keyed(pages_url: str) -> Iterator[tuple[Platform, str]]:
    """An embedded platform where a key exists, so every call needs one, with a tight rate limit:
    the page loads and one message pass, the second message is refused with 429."""
    keys_file = Path(tempfile.mkdtemp(prefix="web-keys-")) / "api-keys.json"
    key = create_api_key({"AUTH_KEYS_FILE": str(keys_file)}, "web-user")
    env = platform_env(pages_url, keys_file, RATE_LIMIT_USER_PER_MINUTE="3")
    with embedded_platform(env) as platform:
        yield platform, key


def slow_next_answer(platform: Platform, delay_ms: int) -> None:
    """The embedded offline model streams its next answer with `delay_ms` between tokens."""
    response = httpx.post(
        f"{platform.base_url}/offline/admin/faults", json={"kind": "slow", "delay_ms": delay_ms, "count": 1}
    )
    assert response.status_code in (200, 201, 202), response.text
