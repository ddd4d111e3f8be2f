"""`routes/chat.py`'s input limit: a message is measured in characters, against `GATEWAY_MAX_MESSAGE_CHARS`.

tests/e2e/test_input_limits.py sends a long Korean message through the platform; these
pin the limit's edge and the refusal's words in both languages."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from agent_common.errors import PlatformError
from agent_gateway.routes.chat import _locale
from agent_gateway.schemas import ChatBody
from agent_gateway.turns import _check_length, _check_not_blank

LIMIT = 5


def request_with_limit(limit: int = LIMIT) -> Any:
    return SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(max_message_chars=limit)))
    )


@pytest.mark.parametrize("message", ["hello", "안녕하세요"])  # five characters; the Korean is 15 bytes
def test_a_message_of_exactly_the_limit_passes(message: str) -> None:
    _check_length(ChatBody(message=message), request_with_limit(), None)


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        (None, "The message is longer than 5 characters."),
        ("en-US", "The message is longer than 5 characters."),
        ("ko", "메시지가 5자보다 깁니다."),
    ],
)
def test_one_character_more_is_input_too_large_in_the_callers_language(locale: str | None, text: str) -> None:
    with pytest.raises(PlatformError) as caught:
        _check_length(ChatBody(message="안녕하세요!"), request_with_limit(), locale)
    info = caught.value.info
    assert (info.http_status, info.code, info.message, info.details) == (413, "INPUT_TOO_LARGE", text, {"limit": 5})


def test_the_bodys_locale_wins_over_accept_language() -> None:
    assert _locale(ChatBody(message="hi", locale="ko"), "en-US,en;q=0.9") == "ko"
    assert _locale(ChatBody(message="hi"), "ko-KR,ko;q=0.9") == "ko-KR"
    assert _locale(ChatBody(message="hi"), None) is None


@pytest.mark.parametrize("message", [" ", "\n\t ", "\u3000", "\u2028 \u00a0"])
@pytest.mark.parametrize(
    ("locale", "text"),
    [
        (None, "The message is empty: it has only spaces or line breaks."),
        ("ko-KR", "메시지가 비어 있습니다: 공백이나 줄바꿈만 있습니다."),
    ],
)
def test_a_message_of_whitespace_only_is_input_invalid_in_the_callers_language(
    message: str, locale: str | None, text: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        _check_not_blank(ChatBody(message=message), locale)
    info = caught.value.info
    assert (info.http_status, info.code, info.message) == (422, "INPUT_INVALID", text)
    assert info.details == {"fields": [{"field": "message", "problem": text}]}


@pytest.mark.parametrize("message", ["a", " hello ", "\u3000안녕\n"])
def test_a_message_with_one_visible_character_is_not_blank(message: str) -> None:
    _check_not_blank(ChatBody(message=message), None)


def test_the_schema_documents_the_same_rule_for_clients() -> None:
    pattern = ChatBody.model_json_schema()["properties"]["message"]["pattern"]
    for blank in (" ", "\n\t ", "\u3000"):
        assert re.fullmatch(pattern, blank) is None
    for text in ("a", " hello ", "\u3000안녕\n"):
        assert re.fullmatch(pattern, text)
    assert re.fullmatch(pattern, "a\x00b") is None
