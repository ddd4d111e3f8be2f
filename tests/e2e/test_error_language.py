"""Every error a person can meet at the gateway speaks their language (`Accept-Language`).

A `user_input` error's message says what to change, so it is the text a person reads: Korean
for a Korean caller. Any other error keeps its message and carries a `fallback` in the caller's
language (`agent_common.fallback`). Before this check, a Korean caller got English for an
invalid body, an unknown path, an unreadable body and a body over the limit (the web page
shows `fallback ?? message`). The static half: no `user_input` error of the gateway is built
from a literal English message.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_common.errors import ERROR_CLASS_OF, ErrorClass, ErrorCode
from tests.e2e.conftest import Secured

HANGUL = re.compile("[\uac00-\ud7a3]")
GATEWAY_SOURCE = Path(__file__).resolve().parents[2] / "services" / "gateway" / "src"
ERROR_BUILDERS = {"of", "PlatformError", "Refused"}

Request = Callable[[httpx.Client, dict[str, str]], httpx.Response]


def _json(path: str, body: Any) -> Request:
    return lambda client, auth: client.post(path, json=body, headers=auth)


# What a person's client can get wrong, and the code each gets.
MISTAKES: dict[str, tuple[Request, str]] = {
    "unknown path": (lambda client, auth: client.get("/api/nothing-here", headers=auth), "NOT_FOUND"),
    "wrong method": (lambda client, auth: client.get("/api/chat", headers=auth), "METHOD_NOT_ALLOWED"),
    "not JSON": (
        lambda client, auth: client.post("/api/chat", content=b"hi", headers={**auth, "content-type": "text/plain"}),
        "CONTENT_TYPE_UNSUPPORTED",
    ),
    "invalid field": (_json("/api/chat", {"message": 5}), "INPUT_INVALID"),
    "unreadable bytes": (
        lambda client, auth: client.post(
            "/api/chat", content=b'{"message": "\xff\xfe"}', headers={**auth, "content-type": "application/json"}
        ),
        "INPUT_INVALID",
    ),
    "body too large": (_json("/api/chat", {"message": "x" * 20_000}), "BODY_TOO_LARGE"),
    "message too long": (_json("/api/chat", {"message": "가" * 2_100}), "INPUT_TOO_LARGE"),
    "unknown session": (
        lambda client, auth: client.get("/api/sessions/ses_neverexisted00", headers=auth),
        "NOT_FOUND",
    ),
    "no key": (lambda client, auth: client.post("/api/chat", json={"message": "hi"}), "AUTH_REQUIRED"),
    "wrong key": (
        lambda client, auth: client.post("/api/chat", json={"message": "hi"}, headers={"authorization": "Bearer x"}),
        "AUTH_INVALID",
    ),
    "OpenAI body": (_json("/v1/chat/completions", {"model": "agent", "messages": []}), "INPUT_INVALID"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_korean_caller_reads_each_mistake_in_korean_and_an_english_one_in_english(
    secured: Secured, mistake: str
) -> None:
    send, code = MISTAKES[mistake]
    for language, korean in (("ko-KR,ko;q=0.9", True), ("en-US", False)):
        with httpx.Client(base_url=secured.platform.base_url, headers={"accept-language": language}) as client:
            response = send(client, secured.alice)
        error = response.json()["error"]
        assert error["code"] == code and error["class"] == "user_input", response.text
        assert bool(HANGUL.search(error["message"])) is korean, f"{language}: {error['message']}"


def literal_messages_of_user_input_errors(source: str) -> list[tuple[int, str]]:
    """`ErrorInfo.of` / `PlatformError` / `Refused` calls whose message is a literal (a string,
    an f-string, `str(...)`) for a `user_input` code, or for a code not named where it is built."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) not in ERROR_BUILDERS:
            continue
        code, message = node.args[0], node.args[1]
        literal = isinstance(message, ast.Constant | ast.JoinedStr) or (
            isinstance(message, ast.Call) and getattr(message.func, "id", None) == "str"
        )
        named = isinstance(code, ast.Attribute) and isinstance(code.value, ast.Name) and code.value.id == "ErrorCode"
        for_people = not named or ERROR_CLASS_OF[ErrorCode[code.attr]] is ErrorClass.USER_INPUT
        if literal and for_people:
            found.append((node.lineno, ast.unparse(node)[:120]))
    return found


def test_no_user_input_error_of_the_gateway_is_built_from_a_literal_message() -> None:
    offenders = [
        f"{path.relative_to(GATEWAY_SOURCE)}:{line}: {call}"
        for path in sorted(GATEWAY_SOURCE.rglob("*.py"))
        for line, call in literal_messages_of_user_input_errors(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "build the message from a `Localized` (agent_gateway/localized.py):\n" + "\n".join(offenders)


def test_the_static_check_finds_the_messages_that_were_english_only() -> None:
    source = (
        'ErrorInfo.of(ErrorCode.INPUT_INVALID, "The request body is not valid.", fields=fields)\n'
        "ErrorInfo.of(code, str(exc.detail))\n"
        'ErrorInfo.of(ErrorCode.BODY_TOO_LARGE, f"larger than {n} bytes.", limit=n)\n'
        # Not user_input: a fallback in the caller's language goes with it.
        'ErrorInfo.of(ErrorCode.INFRA_TIMEOUT, "The answer took too long.")\n'
        "ErrorInfo.of(ErrorCode.NOT_FOUND, NOT_FOUND.for_locale(locale))\n"
    )
    assert [line for line, _ in literal_messages_of_user_input_errors(source)] == [1, 2, 3]
