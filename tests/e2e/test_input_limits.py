"""Bodies and messages the gateway refuses, in both modes: a classified
`user_input` error every time, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.platform import Platform

LIMIT = 8192  # GATEWAY_MAX_BODY_BYTES by default


def post_raw(platform: Platform, content: bytes | Iterator[bytes]) -> httpx.Response:
    headers = {**platform.headers, "content-type": "application/json"}
    return httpx.post(f"{platform.base_url}/api/chat", content=content, headers=headers, timeout=30)


def assert_refused(response: httpx.Response, status: int | tuple[int, ...], code: str) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    error = response.json()["error"]
    assert (error["class"], error["code"]) == ("user_input", code)


def oversize_events(platform: Platform, reason: str) -> float:
    text = httpx.get(platform.metrics_url()).text
    match = re.search(rf'^security_events_total\{{event="body_too_large",reason="{reason}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(platform: Platform) -> None:
    before = oversize_events(platform, "content_length")
    # Not even JSON: 413, not 422, shows nothing was parsed.
    response = post_raw(platform, b"x" * (LIMIT + 1))
    assert oversize_events(platform, "content_length") == before + 1
    assert_refused(response, 413, "BODY_TOO_LARGE")
    assert response.json()["error"]["details"] == {"limit": LIMIT}
    assert response.json()["request_id"].startswith("req_")


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(platform: Platform) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(10):
            yield b"y" * 1024

    response = post_raw(platform, chunks())
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_refused(response, 413, "BODY_TOO_LARGE")


def test_a_body_just_under_the_limit_gets_past_the_body_limit(platform: Platform) -> None:
    body = b'{"message": "' + b"z" * (LIMIT - 40) + b'"}'
    assert len(body) <= LIMIT
    # Past the body limit, the message's own limit answers.
    assert_refused(post_raw(platform, body), 413, "INPUT_TOO_LARGE")


def test_a_long_korean_message_within_the_message_limit_is_answered(platform: Platform) -> None:
    message = "가" * 2000  # GATEWAY_MAX_MESSAGE_CHARS, 6000 bytes of UTF-8
    response = httpx.post(
        f"{platform.base_url}/api/chat", json={"message": message}, headers=platform.headers, timeout=60
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("content", "status"),
    [
        pytest.param(b'{"message": "unterminated', 422, id="malformed-json"),
        pytest.param(b'{"message": "caf\xe9"}', (400, 422), id="invalid-utf8"),
        pytest.param(b'{"message": "a\\u0000b"}', 422, id="nul-escape"),
        pytest.param(b'{"message": "\\ud800 lone surrogate"}', 422, id="lone-surrogate"),
        pytest.param(b'{"message": "x", "nest": ' + b"[" * 3000 + b"]" * 3000 + b"}", (400, 422), id="deep-nesting"),
        pytest.param(b'{"message": ' + b"7" * 5000 + b"}", (400, 422), id="huge-integer"),
        pytest.param(b'{"message": NaN}', 422, id="nan"),
        pytest.param(b'["message", "a list"]', 422, id="wrong-top-level-type"),
        pytest.param(b'{"message": ["a", "list"]}', 422, id="wrong-field-type"),
        pytest.param(b"", 422, id="empty-body"),
    ],
)
def test_bodies_that_are_not_a_valid_chat_turn_get_a_classified_error(
    platform: Platform, content: bytes, status: int | tuple[int, ...]
) -> None:
    assert_refused(post_raw(platform, content), status, "INPUT_INVALID")


@pytest.mark.parametrize("message", [" ", "\n\n\t", "\u3000\u2028"])
def test_a_message_of_whitespace_only_is_refused_in_the_callers_language(platform: Platform, message: str) -> None:
    for language, words in (("en", "only spaces or line breaks"), ("ko", "공백이나 줄바꿈만")):
        response = httpx.post(
            f"{platform.base_url}/api/chat",
            json={"message": message},
            headers={**platform.headers, "accept-language": language},
            timeout=30,
        )
        assert_refused(response, 422, "INPUT_INVALID")
        assert words in response.json()["error"]["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_without_a_json_content_type_is_told_what_to_send(platform: Platform, content_type: str | None) -> None:
    headers = {**platform.headers, **({"content-type": content_type} if content_type else {})}
    response = httpx.post(f"{platform.base_url}/api/chat", content=b'{"message": "hello"}', headers=headers, timeout=30)
    assert_refused(response, 415, "CONTENT_TYPE_UNSUPPORTED")
    assert "application/json" in response.json()["error"]["message"]
