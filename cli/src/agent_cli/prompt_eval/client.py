"""One chat turn over the platform's real streaming API (`POST /api/chat/stream`).

The stream, not `/api/chat`, so the tool calls are seen as they happened:
`tool_start` and `tool_end` carry each call's outcome and error code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from agent_cli.prompt_eval.evidence import ToolCallSeen


@dataclass(frozen=True)
class Turn:
    answer: str
    terminal: str  # "done", "error" or ""
    error_code: str | None
    tool_calls: tuple[ToolCallSeen, ...]
    session_id: str | None
    model: str


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event type, JSON data) per SSE frame; comments (`: ping`) are skipped."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, json.loads("\n".join(data))


def _error_code(error: Any) -> str | None:
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None


def read_turn(events: Iterable[tuple[str, dict[str, Any]]], session_id: str | None) -> Turn:
    """Fold a run's events into a `Turn`."""
    tokens: list[str] = []
    calls: dict[str, ToolCallSeen] = {}
    answer: str | None = None
    terminal, error_code, model = "", None, ""
    for kind, data in events:
        if kind == "token":
            tokens.append(str(data.get("text", "")))
        elif kind == "tool_start":
            call_id = str(data.get("call_id"))
            arguments = data.get("arguments")
            calls[call_id] = ToolCallSeen(
                call_id, str(data.get("tool")), arguments if isinstance(arguments, dict) else {}
            )
        elif kind == "tool_end":
            call_id = str(data.get("call_id"))
            start = calls.get(call_id) or ToolCallSeen(call_id, str(data.get("tool")), {})
            calls[call_id] = ToolCallSeen(
                start.call_id, start.tool, start.arguments, bool(data.get("ok")), _error_code(data.get("error"))
            )
        elif kind in ("done", "error"):
            terminal = kind
            if kind == "done":
                answer = str(data.get("answer", ""))
                model = str(data.get("model", ""))
                session_id = str(data.get("session_id") or session_id)
            else:
                error_code = _error_code(data.get("error"))
            break
    return Turn(
        answer="".join(tokens) if answer is None else answer,
        terminal=terminal,
        error_code=error_code,
        tool_calls=tuple(calls.values()),
        session_id=session_id,
        model=model,
    )


def ask(client: httpx.Client, base_url: str, message: str, session_id: str | None = None) -> Turn:
    """Send one message and read its whole run; an HTTP error status is a turn ended with `error`."""
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["session_id"] = session_id
    with client.stream("POST", f"{base_url}/api/chat/stream", json=body) as response:
        session_id = response.headers.get("x-session-id") or session_id
        if response.status_code != 200:
            response.read()
            try:
                error = response.json().get("error")
            except ValueError:
                error = None
            code = _error_code(error) or f"HTTP {response.status_code}"
            return Turn("", "error", code, (), session_id, "")
        return read_turn(sse_events(response.iter_lines()), session_id)
