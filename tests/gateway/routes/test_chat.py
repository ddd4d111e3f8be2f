"""`routes/chat.py`'s input limit: a message is measured in characters, against `GATEWAY_MAX_MESSAGE_CHARS`.

tests/e2e/test_input_limits.py sends a long Korean message through the platform; these
pin the limit's edge and the refusal's words in both languages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent_common.errors import PlatformError
from agent_gateway.routes.chat import _check_length, _locale
from agent_gateway.schemas import ChatBody

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
