"""The offline model's answers, as pure functions of the request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_offline_model.policy import (
    LABELS,
    Reply,
    ToolResult,
    decide,
    detect_language,
    extract_urls,
    message_text,
    parse_tool_result,
    quote,
    tool_call_id,
    tool_result_sentence,
    wants_recall,
)
from tests.offline_model.conftest import HTTP_GET_TOOL


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


SYSTEM = {"role": "system", "content": "You are a helpful assistant. Use the http_get tool for URLs."}


# ---- language ----


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("hello", "en"),
        ("", "en"),
        ("안녕하세요", "ko"),
        ("what is http://a.test 이거?", "ko"),
        ("ㅋㅋㅋ", "ko"),  # compatibility jamo only
        ("\u1100\u1161", "ko"),  # conjoining jamo
        ("こんにちは", "en"),  # Japanese is not Korean
        ("中文", "en"),
    ],
)
def test_the_language_is_korean_exactly_when_there_is_hangul(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_the_latest_user_message_decides_the_language() -> None:
    reply = decide([user("안녕하세요"), assistant("..."), user("and now in English")])
    assert reply.text is not None and reply.text.startswith(LABELS["en"])
    reply = decide([user("hello"), assistant("..."), user("이제 한국어로")])
    assert reply.text is not None and reply.text.startswith("(오프라인 모델) ")


# ---- URLs ----


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Summarise http://docs.test/a please", ["http://docs.test/a"]),
        ("What does https://example.com/page say?", ["https://example.com/page"]),
        ("Is it https://example.com/?", ["https://example.com/"]),
        ("Read http://a.test/x.", ["http://a.test/x"]),
        ("Read http://a.test/x, then http://b.test/y!", ["http://a.test/x", "http://b.test/y"]),
        ('He said "http://a.test/q?x=1&y=2".', ["http://a.test/q?x=1&y=2"]),
        ("(see http://a.test/x)", ["http://a.test/x"]),
        ("[link](https://a.test/doc)", ["https://a.test/doc"]),
        ("https://en.wikipedia.org/wiki/Kafka_(software)", ["https://en.wikipedia.org/wiki/Kafka_(software)"]),
        ("<http://a.test/angle>", ["http://a.test/angle"]),
        ("'http://a.test/single'", ["http://a.test/single"]),
        ("http://127.0.0.1:9000/page 요약해 주세요", ["http://127.0.0.1:9000/page"]),
        ("이 페이지 http://a.test/x 를 읽어줘.", ["http://a.test/x"]),
        ("http://a.test/x?!...", ["http://a.test/x"]),
        ("HTTPS://A.TEST/Upper", ["HTTPS://A.TEST/Upper"]),
        ("ftp://a.test/file and mailto:x@a.test", []),
        ("just http:// alone", []),
        ("no links here", []),
    ],
)
def test_urls_are_found_and_trailing_punctuation_is_trimmed(text: str, urls: list[str]) -> None:
    assert extract_urls(text) == urls


def test_a_url_ends_at_whitespace_so_glued_korean_stays_part_of_it() -> None:
    # An IRI path may be Korean (https://ko.wikipedia.org/wiki/서울), so nothing glued on is guessed away.
    assert extract_urls("https://ko.wikipedia.org/wiki/서울 에 대해") == ["https://ko.wikipedia.org/wiki/서울"]
    assert extract_urls("http://a.test/x를 읽어줘") == ["http://a.test/x를"]


def test_urls_are_distinct_and_at_most_three() -> None:
    text = "http://a.test http://b.test http://a.test. http://c.test http://d.test"
    assert extract_urls(text) == ["http://a.test", "http://b.test", "http://c.test"]


# ---- tool calls ----


def test_urls_with_http_get_offered_become_one_tool_call_each() -> None:
    reply = decide([SYSTEM, user("Compare http://a.test/1 and http://b.test/2.")], tools=[HTTP_GET_TOOL])
    assert reply.text is None
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("http_get", {"url": "http://a.test/1"}),
        ("http_get", {"url": "http://b.test/2"}),
    ]
    ids = [c.id for c in reply.tool_calls]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2


def test_tool_call_ids_are_deterministic_and_differ_between_turns() -> None:
    messages = [user("Read http://a.test/1")]
    first = decide(messages, tools=[HTTP_GET_TOOL])
    assert decide(messages, tools=[HTTP_GET_TOOL]) == first
    later = decide([user("hi"), assistant("..."), user("Read http://a.test/1")], tools=[HTTP_GET_TOOL])
    assert later.tool_calls[0].id != first.tool_calls[0].id
    assert tool_call_id(1, 0, "http://a.test/1") == first.tool_calls[0].id


def test_no_tool_call_without_http_get_or_when_tool_choice_is_none() -> None:
    messages = [user("Read http://a.test/1")]
    other_tool = {"type": "function", "function": {"name": "search"}}
    for reply in (
        decide(messages),
        decide(messages, tools=[other_tool]),
        decide(messages, tools=[HTTP_GET_TOOL], tool_choice="none"),
    ):
        assert reply.tool_calls == ()
        assert reply.text is not None and '"Read http://a.test/1"' in reply.text


def test_only_the_latest_user_message_is_searched_for_urls() -> None:
    reply = decide([user("Read http://a.test/1"), assistant("done"), user("thanks")], tools=[HTTP_GET_TOOL])
    assert reply.tool_calls == () and reply.text is not None and '"thanks"' in reply.text


# ---- tool results ----


def tool(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def called(*urls: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": "http_get", "arguments": json.dumps({"url": u})},
            }
            for i, u in enumerate(urls)
        ],
    }


PAGE_OK = json.dumps(
    {
        "ok": True,
        "url": "http://docs.test/a",
        "status": 200,
        "content_type": "text/html",
        "text": "Kafka   keeps\n order per\tpartition.",
        "truncated": False,
    }
)
PAGE_REFUSED = json.dumps(
    {
        "ok": False,
        "url": "http://blocked.test/x",
        "error": {
            "class": "tool",
            "code": "TOOL_URL_NOT_ALLOWED",
            "message": "The host blocked.test is not on the allowlist.",
        },
    }
)


def test_a_fetched_page_is_quoted_with_whitespace_collapsed() -> None:
    reply = decide([user("Read http://docs.test/a"), called("http://docs.test/a"), tool("call_0", PAGE_OK)])
    assert reply == Reply(
        text='(offline model) According to http://docs.test/a, the page says: "Kafka keeps order per partition."'
    )


def test_a_failed_fetch_names_the_message_and_the_code() -> None:
    reply = decide([user("Read http://blocked.test/x"), called("http://blocked.test/x"), tool("call_0", PAGE_REFUSED)])
    assert reply.text == (
        "(offline model) I could not fetch http://blocked.test/x: "
        "The host blocked.test is not on the allowlist (TOOL_URL_NOT_ALLOWED)."
    )


def test_several_tool_results_give_one_sentence_each_in_korean() -> None:
    messages = [
        user("두 페이지 http://docs.test/a http://blocked.test/x 를 비교해 주세요"),
        called("http://docs.test/a", "http://blocked.test/x"),
        tool("call_0", PAGE_OK),
        tool("call_1", PAGE_REFUSED),
    ]
    assert decide(messages).text == (
        '(오프라인 모델) http://docs.test/a 페이지 내용: "Kafka keeps order per partition." '
        "http://blocked.test/x 을(를) 가져오지 못했습니다: The host blocked.test is not on the allowlist "
        "(TOOL_URL_NOT_ALLOWED)."
    )


def test_only_the_tool_results_after_the_last_assistant_message_count() -> None:
    old_page = json.dumps({"ok": True, "url": "http://old.test", "text": "old"})
    messages = [
        user("Read http://old.test"), called("http://old.test"), tool("call_0", old_page),
        assistant("(offline model) ..."),
        user("Now http://docs.test/a"), called("http://docs.test/a"), tool("call_0", PAGE_OK),
    ]  # fmt: skip
    text = decide(messages).text
    assert text is not None and "old" not in text and "Kafka" in text


def test_plain_text_tool_content_counts_as_the_page_text_and_the_url_comes_from_the_call() -> None:
    reply = decide([user("Read http://a.test"), called("http://a.test"), tool("call_0", "just some text")])
    assert reply.text == '(offline model) According to http://a.test, the page says: "just some text"'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('"a json string"', ToolResult(url="http://f", ok=True, text="a json string")),
        ("[1, 2]", ToolResult(url="http://f", ok=True, text="[1, 2]")),
        ('{"ok": false, "error": "boom"}', ToolResult(url="http://f", ok=False, error_message="boom")),
        ('{"ok": true, "url": "http://u", "text": ""}', ToolResult(url="http://u", ok=True, text="")),
        ('{"ok": true, "rows": 3}', ToolResult(url="http://f", ok=True, text='{"rows": 3}')),
        ("{not json", ToolResult(url="http://f", ok=True, text="{not json")),
    ],
)
def test_tool_content_is_read_robustly(content: str, expected: ToolResult) -> None:
    assert parse_tool_result(content, fallback_url="http://f") == expected


def test_tool_sentences_for_empty_pages_and_unknown_errors() -> None:
    assert tool_result_sentence(ToolResult(url="http://u", ok=True, text="  "), "en") == (
        "According to http://u, the page has no text."
    )
    assert tool_result_sentence(ToolResult(url="", ok=False), "en") == (
        "I could not fetch the requested address: unknown error."
    )
    assert (
        tool_result_sentence(ToolResult(url="http://u", ok=True, text=""), "ko")
        == "http://u 페이지에 텍스트가 없습니다."
    )


def test_a_long_page_is_cut_to_about_200_characters() -> None:
    sentence = tool_result_sentence(ToolResult(url="http://u", ok=True, text="word " * 100), "en")
    quoted = sentence.split('"')[1]
    assert len(quoted) <= 201 and quoted.endswith("…")


# ---- recall and echo ----


@pytest.mark.parametrize(
    "text",
    ["What did I say earlier?", "what did i ask", "What was my previous message?", "as I said before",
     "아까 뭐라고 했지?", "이전 메시지", "전에 말한 거"],
)  # fmt: skip
def test_recall_questions_are_recognised(text: str) -> None:
    assert wants_recall(text)


@pytest.mark.parametrize("text", ["hello", "What did you say?", "beforehand is not a word boundary", "안녕하세요"])
def test_other_messages_are_not_recall_questions(text: str) -> None:
    assert not wants_recall(text)


def test_recall_quotes_the_earliest_user_message() -> None:
    messages = [SYSTEM, user("My name is Mina"), assistant("..."), user("I like tea"), assistant("..."),
                user("What did I say earlier?")]  # fmt: skip
    assert decide(messages).text == '(offline model) Earlier you said: "My name is Mina".'


def test_recall_in_korean() -> None:
    messages = [user("제 이름은 민아예요"), assistant("..."), user("아까 뭐라고 했죠?")]
    assert decide(messages).text == '(오프라인 모델) 아까 이렇게 말씀하셨어요: "제 이름은 민아예요".'


def test_recall_without_an_earlier_message_is_an_ordinary_echo() -> None:
    assert decide([user("What did I say earlier?")]).text == (
        '(offline model) You said: "What did I say earlier?". This is turn 1 of our conversation.'
    )


def test_the_echo_numbers_the_turn_by_user_messages() -> None:
    messages = [SYSTEM, user("one"), assistant("a"), user("two"), assistant("b"), user("three")]
    assert decide(messages).text == '(offline model) You said: "three". This is turn 3 of our conversation.'


def test_the_korean_echo() -> None:
    assert decide([user("안녕하세요, 반가워요")]).text == (
        '(오프라인 모델) "안녕하세요, 반가워요"(이)라고 말씀하셨어요. 이번이 대화의 1번째 차례입니다.'
    )


def test_quotes_are_cut_to_200_characters_and_directives_are_not_quoted() -> None:
    long = "x" * 300
    assert quote(long) == "x" * 200 + "…"
    text = decide([user(f"{long} [[offline:slow]]")]).text
    assert text is not None and "x" * 200 + "…" in text and "offline:" not in text.removeprefix("(offline model)")
    assert decide([user("hi [[offline:slow]] there")]).text == (
        '(offline model) You said: "hi there". This is turn 1 of our conversation.'
    )


def test_content_parts_are_read_as_text() -> None:
    message = {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "parts"}]}
    assert message_text(message) == "hello parts"
    assert decide([message]).text == '(offline model) You said: "hello parts". This is turn 1 of our conversation.'


def test_a_conversation_without_a_user_message_still_gets_a_labelled_answer() -> None:
    text = decide([SYSTEM]).text
    assert text is not None and text.startswith("(offline model) ")
