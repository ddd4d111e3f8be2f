"""The chat page on the distributed platform (every service its own process, Kafka and Redis):
served by the gateway process with its policy, a key asked for, an answer streamed with its
tool card, the conversation listed from Redis, and the documents panel honest about what a
gateway of its own can see."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.support.platform import Platform, create_api_key, distributed_platform
from tests.support.services import kafka_of_its_own
from tests.web.conftest import Screenshot, platform_env
from tests.web.test_chat_page import ask, settled
from tests.web.test_keys_and_limits import enter_key

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this module's own: the suite's shared one has other platforms' tool runners in the
    same consumer groups (the end-to-end tier's, for the whole session), which would take this
    platform's tool calls and refuse this tier's page server, not on their allowlist."""
    with kafka_of_its_own(tmp_path_factory.mktemp("web-kafka")) as server:
        yield server.bootstrap


@pytest.fixture(scope="module")
def distributed(
    pages_url: str, own_kafka: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    log_dir = tmp_path_factory.mktemp("web-distributed-logs")
    with distributed_platform(
        platform_env(pages_url, log_dir / "unused-keys.json"),
        kafka=own_kafka,
        redis_url=redis_url,
        log_dir=log_dir,
        orchestrators=1,
        user="web-user",
    ) as platform:
        yield platform


def test_the_page_chats_over_the_distributed_platform(
    browser: Browser, distributed: Platform, redis_url: str, pages_url: str, screenshot: Screenshot
) -> None:
    served = httpx.get(f"{distributed.base_url}/")
    assert "script-src 'self'" in served.headers["content-security-policy"]
    key = create_api_key({"REDIS_URL": redis_url}, "web-distributed", scopes=["reindex"])
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{distributed.base_url}/")
    enter_key(page, key)
    expect(page.locator("#composer-input")).to_be_focused()
    answer = settled(ask(page, f"Please read {pages_url}/page"))
    expect(answer.locator(".tool-card")).to_have_attribute("data-state", "ok")
    expect(answer.locator(".answer-body")).to_contain_text("pineapple")
    expect(page.locator("#sessions-list .session-item").first).to_contain_text("Please read")
    page.click("#toggle-documents")
    expect(page.locator("#documents-note")).to_contain_text("cannot list the index")
    screenshot(page, "distributed")
    context.close()
