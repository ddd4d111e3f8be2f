"""What a person does on the chat page, and what the server keeps of it, for the browser tests:
open the page (entering the platform's key when it needs one), send a message, wait for its
answer to settle; the stored answer and an indexed handbook, read and written over the API."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.support.platform import Platform

HANDBOOK = [
    {
        "doc_id": "parking",
        "title": "Parking",
        "text": "# Parking\n\nVisitors park for free on weekends in the east garage.",
        "format": "markdown",
        "version": "v3",
    },
    {
        "doc_id": "parking-ko",
        "title": "주차 안내",
        "text": "# 주차\n\n방문객은 주말에 동쪽 주차장에 무료로 주차할 수 있습니다.",
        "format": "markdown",
        "version": "v1",
    },
]


def platform_key(platform: Platform) -> str | None:
    """The API key the platform's clients use (the distributed mode's), or None (anonymous)."""
    header = platform.headers.get("authorization")
    return header.removeprefix("Bearer ") if header else None


def enter_key(page: Page, key: str, *, accepted: bool = True) -> None:
    """Type `key` into the dialog; a refused one opens it again at once, saying so."""
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    page.fill("#key-input", key)
    page.keyboard.press("Enter")
    if accepted:
        expect(dialog).to_be_hidden()


def open_chat(page: Page, platform: Platform, url: str | None = None) -> None:
    """Open the page (at `url`, a proxy's say, else the platform's own) as the platform's client:
    where the gateway needs a key, the person types it into the dialog the 401 opens."""
    page.goto(f"{url or platform.base_url}/")
    if (key := platform_key(platform)) is not None:
        enter_key(page, key)
    expect(page.locator("#composer-input")).to_be_focused()


def ask(page: Page, message: str) -> Locator:
    """Send `message` as a person does (type, Enter); the answer it starts."""
    before = page.locator(".message.assistant").count()
    page.fill("#composer-input", message)
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").nth(before)
    expect(answer).to_be_attached()
    return answer


def settled(answer: Locator, state: str = "done") -> Locator:
    expect(answer).to_have_attribute("data-state", state)
    return answer


def stored_answer(platform: Platform) -> str:
    """The newest session's last answer as the server keeps it."""
    sessions = httpx.get(f"{platform.base_url}/api/sessions", headers=platform.headers, timeout=30)
    newest = sessions.json()["sessions"][0]["session_id"]
    turns = httpx.get(f"{platform.base_url}/api/sessions/{newest}", headers=platform.headers, timeout=30)
    return str(turns.json()["turns"][-1]["assistant"])


def reindexed(platform: Platform, source: dict[str, object]) -> None:
    """Index `source` through the gateway's API and wait until the indexer is done with it."""
    accepted = httpx.post(
        f"{platform.base_url}/api/reindex", json={"source": source}, headers=platform.headers, timeout=30
    )
    assert accepted.status_code == 202, accepted.text
    status_url = f"{platform.base_url}/api/reindex/{accepted.json()['request_id']}"
    deadline = time.monotonic() + 60
    while (state := httpx.get(status_url, headers=platform.headers, timeout=30).json()["state"]) != "done":
        assert state != "failed" and time.monotonic() < deadline, state
        time.sleep(0.1)


def index_handbook(platform: Platform) -> None:
    reindexed(platform, {"name": "handbook", "documents": HANDBOOK})


def normalised(text: str) -> str:
    return " ".join(text.split())
