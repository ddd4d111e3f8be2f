"""What the offline model answers: deterministic, pure functions of the request.

Decision, in order:

1. the last message is a tool result: answer from the tool results;
2. the latest user message asks for secrets (the system prompt, API keys) or for
   something the refusal policy declines (breaking into systems, malware):
   refuse politely (`refusals.py`), with no tool call;
3. `http_get` is offered and the latest user message has URLs: call it, once per URL
   (or misuse it, when a `tool_misuse.py` directive asks; a call refused as invalid
   is corrected and made again, at step 1; a flooding model calls again at every step
   while the tool is offered);
4. the prompt holds the platform's retrieved passages: answer from them, citing the
   passage by its number, or say the documents don't cover the question (`grounded.py`);
5. the user asks what they said earlier, and there is an earlier user message: quote it;
6. otherwise: echo the message with the turn number.

The language is the latest user message's: Korean when it has Hangul, else
English. Every answer starts with a visible offline label.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from agent_offline_model.faults import strip_directives
from agent_offline_model.grounded import context_text, grounded_answer
from agent_offline_model.refusals import refusal_answer, refusal_kind
from agent_offline_model.tool_misuse import ToolMisuse, corrected_urls, flood_urls, misuse_in, misused_arguments

Language = Literal["en", "ko"]

LABELS: dict[Language, str] = {"en": "(offline model) ", "ko": "(오프라인 모델) "}
QUOTE_LIMIT = 200
MAX_TOOL_CALLS = 3
HTTP_GET = "http_get"

# Hangul syllables plus every jamo block: a message typed with bare jamo (ㅋㅋ) is Korean too.
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")

# A URL runs to the next whitespace, quote, backtick or angle bracket; trailing
# punctuation is trimmed afterwards (see `_trim_url`).
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = frozenset(".,;:!?'\"”’。、，！？…")
_CLOSERS = {")": "(", "]": "[", "}": "{"}

_RECALL_EN = re.compile(r"\bwhat did i (?:say|ask)\b|\bearlier\b|\bbefore\b|\bprevious(?:ly)?\b", re.IGNORECASE)
_RECALL_KO = ("아까", "이전", "전에", "뭐라고")


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asks for; `arguments` is a JSON object as text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    """The model's answer: text, or tool calls (never both)."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolResult:
    """One tool message, as the answer needs it."""

    url: str
    ok: bool
    text: str = ""
    error_message: str = ""
    error_code: str = ""


# ---- reading the conversation ----


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text, whether its content is a string or a list of content parts."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, Mapping)]
        return "".join(part for part in parts if isinstance(part, str))
    return str(content)


def user_texts(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [message_text(m) for m in messages if m.get("role") == "user"]


def detect_language(text: str) -> Language:
    return "ko" if _HANGUL.search(text) else "en"


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` on one line, cut to `limit` characters (an ellipsis marks the cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


# ---- URLs ----


def _trim_url(url: str) -> str:
    """Drop sentence punctuation glued to the end of a URL; a closing bracket
    stays when it closes one opened inside the URL (`.../Foo_(bar)`)."""
    while url:
        last = url[-1]
        unbalanced = last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)
        if last not in _TRAILING_PUNCTUATION and not unbalanced:
            break
        url = url[:-1]
    return url


def extract_urls(text: str, limit: int = MAX_TOOL_CALLS) -> list[str]:
    """The distinct http(s) URLs in `text`, in order of appearance, at most `limit`.

    URLs end at whitespace, so text glued to a URL (a Korean particle, say)
    stays part of it: an IRI path may well be Korean.
    """
    urls: list[str] = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        if urlsplit(url).hostname and url not in urls:
            urls.append(url)
        if len(urls) == limit:
            break
    return urls


# ---- tool results ----


def _tool_call_urls(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """tool_call_id -> the URL it was called with, from the assistant messages."""
    urls: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            try:
                arguments = json.loads(call["function"]["arguments"])
                url = arguments["url"]
            except (KeyError, TypeError, ValueError):
                continue
            if isinstance(url, str) and isinstance(call.get("id"), str):
                urls[call["id"]] = url
    return urls


def parse_tool_result(content: str, fallback_url: str = "") -> ToolResult:
    """Read the platform's tool-message JSON (`{"ok": ..., "url": ..., "text"|"error": ...}`);
    anything else counts as the page text."""
    try:
        body: Any = json.loads(content)
    except ValueError:
        return ToolResult(url=fallback_url, ok=True, text=content)
    if not isinstance(body, dict):
        return ToolResult(url=fallback_url, ok=True, text=body if isinstance(body, str) else content)
    given_url = body.get("url")
    url = given_url if isinstance(given_url, str) else fallback_url
    if body.get("ok") is False or (body.get("ok") is None and body.get("error")):
        error = body.get("error")
        if isinstance(error, Mapping):
            message, code = str(error.get("message") or ""), str(error.get("code") or "")
            return ToolResult(url=url, ok=False, error_message=message, error_code=code)
        return ToolResult(url=url, ok=False, error_message=str(error or ""))
    text = body.get("text")
    if not isinstance(text, str):  # some other tool's output: show it as it came
        text = json.dumps({k: v for k, v in body.items() if k not in ("ok", "url")}, ensure_ascii=False)
    return ToolResult(url=url, ok=True, text=text)


def latest_tool_results(messages: Sequence[Mapping[str, Any]]) -> list[ToolResult]:
    """The tool messages after the last assistant message, in order."""
    start = 0
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            start = index + 1
    urls = _tool_call_urls(messages)
    return [
        parse_tool_result(message_text(m), urls.get(str(m.get("tool_call_id")), ""))
        for m in messages[start:]
        if m.get("role") == "tool"
    ]


def tool_result_sentence(result: ToolResult, language: Language) -> str:
    if language == "ko":
        url = result.url or "요청한 주소"
        if not result.ok:
            return f"{url} 을(를) 가져오지 못했습니다: {_error_text(result, '알 수 없는 오류')}."
        if not quote(result.text):
            return f"{url} 페이지에 텍스트가 없습니다."
        return f'{url} 페이지 내용: "{quote(result.text)}"'
    url = result.url or "the requested address"
    if not result.ok:
        return f"I could not fetch {url}: {_error_text(result, 'unknown error')}."
    if not quote(result.text):
        return f"According to {url}, the page has no text."
    return f'According to {url}, the page says: "{quote(result.text)}"'


def _error_text(result: ToolResult, unknown: str) -> str:
    message = result.error_message.strip().rstrip(".") or unknown
    return f"{message} ({result.error_code})" if result.error_code else message


# ---- the other answers ----


def wants_recall(text: str) -> bool:
    """Whether the user asks what they said earlier."""
    return bool(_RECALL_EN.search(text)) or any(word in text for word in _RECALL_KO)


def recall_answer(earliest: str, language: Language) -> str:
    if language == "ko":
        return f'아까 이렇게 말씀하셨어요: "{quote(earliest)}".'
    return f'Earlier you said: "{quote(earliest)}".'


def echo_answer(message: str, turn: int, language: Language) -> str:
    if language == "ko":
        return f'"{quote(message)}"(이)라고 말씀하셨어요. 이번이 대화의 {turn}번째 차례입니다.'
    return f'You said: "{quote(message)}". This is turn {turn} of our conversation.'


def offers_tool(tools: Sequence[Mapping[str, Any]] | None, name: str, tool_choice: Any = None) -> bool:
    """Whether the request lets the model call function `name`."""
    if tool_choice == "none":
        return False
    for tool in tools or []:
        function = tool.get("function")
        if tool.get("type", "function") != "function" or not isinstance(function, Mapping):
            continue
        if function.get("name") == name:
            return True
    return False


def tool_call_id(turn: int, index: int, url: str) -> str:
    """Deterministic, and different for the same URL in another turn of the conversation."""
    return "call_" + hashlib.sha256(f"{turn}\n{index}\n{url}".encode()).hexdigest()[:12]


# ---- the decision ----


def _http_get_calls(turn: int, urls: Sequence[str]) -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(tool_call_id(turn, i, url), HTTP_GET, json.dumps({"url": url}, ensure_ascii=False))
        for i, url in enumerate(urls)
    )


def _misused_call(turn: int, index: int, url: str, misuse: ToolMisuse) -> ToolCall:
    name, arguments = misused_arguments(misuse, url)
    return ToolCall(tool_call_id(turn, index, url), name, json.dumps(arguments, ensure_ascii=False))


def decide(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: Any = None,
) -> Reply:
    """The model's reply to a chat-completions request."""
    raw_users = user_texts(messages)
    users = [strip_directives(text) for text in raw_users]
    latest = users[-1] if users else ""
    misuse = misuse_in(raw_users[-1]) if raw_users else None
    language = detect_language(latest)
    label = LABELS[language]

    flooding = misuse is ToolMisuse.FLOOD and offers_tool(tools, HTTP_GET, tool_choice)
    if flooding and (urls := flood_urls(extract_urls(latest))):  # at every step, while the tool is offered
        return Reply(tool_calls=_http_get_calls(len(users) + len(messages), urls))

    if messages and messages[-1].get("role") == "tool":
        if retry := corrected_urls(messages):  # told which fields were wrong: call again, corrected
            return Reply(tool_calls=_http_get_calls(len(users) + len(messages), retry))
        sentences = [tool_result_sentence(r, language) for r in latest_tool_results(messages)]
        return Reply(text=label + " ".join(sentences))

    if kind := refusal_kind(latest):  # before tool calls: a refused request fetches nothing
        return Reply(text=label + refusal_answer(kind, language))

    if offers_tool(tools, HTTP_GET, tool_choice):
        urls = extract_urls(latest)
        if urls and misuse is not None:
            return Reply(tool_calls=tuple(_misused_call(len(users), i, url, misuse) for i, url in enumerate(urls)))
        if urls:
            return Reply(tool_calls=_http_get_calls(len(users), urls))

    if not users:
        return Reply(text=label + "There is no message to answer yet.")

    if (context := context_text(messages)) is not None:
        return Reply(text=label + grounded_answer(context, latest, language))

    if len(users) > 1 and wants_recall(latest):
        return Reply(text=label + recall_answer(users[0], language))

    return Reply(text=label + echo_answer(latest, len(users), language))
