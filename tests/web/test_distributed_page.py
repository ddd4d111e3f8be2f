"""What only the distributed mode has: a gateway process of its own, without the shared document
store (`RAG_STORE_URL`), beside the others of the platform (`distributed`, `conftest.py`). It
serves the page with its policy, asks for a key, streams an answer with its tool card, lists
the conversation from Redis, and its documents panel says honestly that it cannot see the index."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.support.platform import Platform, create_api_key
from tests.web.chat import ask, enter_key, settled
from tests.web.conftest import BLIND_GATEWAY, Screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def test_the_page_chats_over_the_distributed_platform(
    browser: Browser, distributed: Platform, own_redis: str, pages_url: str, screenshot: Screenshot
) -> None:
    gateway = distributed.services[BLIND_GATEWAY]
    served = httpx.get(f"{gateway}/")
    assert "script-src 'self'" in served.headers["content-security-policy"]
    key = create_api_key({"REDIS_URL": own_redis}, "web-distributed", scopes=["reindex"])
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{gateway}/")
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
