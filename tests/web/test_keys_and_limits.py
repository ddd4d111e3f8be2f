"""The chat page where keys exist, in both modes (`keyed`, `conftest.py`): asked for one on a
401, kept for the tab, and a 429's `Retry-After` shown and waited out before the next message
can go."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.support.platform import Platform
from tests.web.chat import ask, enter_key, settled
from tests.web.conftest import Screenshot


def test_a_401_asks_for_a_key_a_wrong_one_is_refused_and_a_good_one_is_used(
    browser: Browser, keyed: tuple[Platform, str], screenshot: Screenshot
) -> None:
    platform, key = keyed
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{platform.base_url}/")
    expect(page.locator("#key-reason")).to_have_text("This gateway needs an API key.")  # the 401 on load
    screenshot(page, "key-required")
    enter_key(page, "ak_wrong_0000000000000000000000000000", accepted=False)
    expect(page.locator("#key-reason")).to_have_text(re.compile("not accepted"))
    screenshot(page, "key-invalid")
    enter_key(page, key)
    answer = settled(ask(page, "Hello with a key"))
    expect(answer.locator(".answer-body")).to_contain_text("Hello with a key")
    assert page.evaluate("Object.keys(localStorage).every(k => !localStorage.getItem(k).includes('ak_'))")
    assert page.evaluate("sessionStorage.length") == 1  # the key: this tab only
    context.close()


def test_a_429_says_when_to_try_again_and_holds_the_send_button_until_then(
    browser: Browser, keyed: tuple[Platform, str], screenshot: Screenshot
) -> None:
    platform, key = keyed
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{platform.base_url}/")
    enter_key(page, key)
    refused = None
    for i in range(4):  # the limit is 3 a minute for this key, the page's own list calls included
        answer = ask(page, f"Message {i}")
        expect(answer).not_to_have_attribute("data-state", "streaming")
        if answer.get_attribute("data-state") == "error":
            refused = answer
            break
    assert refused is not None, "never refused"
    expect(refused.locator(".fallback")).to_have_text(re.compile(r"Too many requests: you can send again in \d+ s"))
    expect(page.locator("#status")).to_have_text(re.compile(r"you can send again in \d+ s"))
    expect(page.locator("#send")).to_be_disabled()
    screenshot(page, "rate-limited")
    context.close()
