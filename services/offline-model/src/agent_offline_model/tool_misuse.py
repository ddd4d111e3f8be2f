"""Tool calls that go wrong on purpose, so the platform's answer to them can be
seen end to end: a directive in the latest user message asks for one.

- `[[offline:tool_bad_arguments]]`: call `http_get` with `{"address": url}`
  instead of `{"url": url}`. The tool runner refuses it with
  `TOOL_INPUT_INVALID` and says which fields are wrong; reading that, the model
  corrects itself and calls again with `{"url": url}`, as a real model would.
- `[[offline:tool_unknown]]`: call a tool that does not exist (`run_shell`).
- `[[offline:tool_flood]]`: call `http_get` `FLOOD_CALLS` times in every step while
  the tool is offered, cycling over the message's URLs, as a model gone into a
  loop does; once no tools are offered, answer from the results it got.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from agent_offline_model.faults import DIRECTIVE_PATTERN

UNKNOWN_TOOL = "run_shell"
CORRECTABLE_CODE = "TOOL_INPUT_INVALID"
FLOOD_CALLS = 6


class ToolMisuse(StrEnum):
    BAD_ARGUMENTS = "tool_bad_arguments"
    UNKNOWN_TOOL = "tool_unknown"
    FLOOD = "tool_flood"


def misuse_in(text: str) -> ToolMisuse | None:
    for match in DIRECTIVE_PATTERN.finditer(text):
        try:
            return ToolMisuse(match.group(1))
        except ValueError:
            continue
    return None


def flood_urls(urls: Sequence[str]) -> list[str]:
    """The URLs of one flooding step's calls: `FLOOD_CALLS` of them, cycling over `urls`."""
    return [urls[i % len(urls)] for i in range(FLOOD_CALLS)] if urls else []


def misused_arguments(misuse: ToolMisuse, url: str) -> tuple[str, dict[str, Any]]:
    """The tool name and arguments a misusing model sends instead of `http_get` with `url`."""
    if misuse is ToolMisuse.UNKNOWN_TOOL:
        return UNKNOWN_TOOL, {"command": f"curl {url}"}
    return "http_get", {"address": url}


def corrected_urls(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The URLs of the latest tool calls that were refused as invalid, read back from the
    arguments the model sent: what it calls again with, corrected. Empty once it has."""
    last_assistant = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
    if last_assistant is None:
        return []
    refused_ids = set()
    for message in messages[messages.index(last_assistant) + 1 :]:
        if message.get("role") != "tool":
            continue
        try:
            error = json.loads(str(message.get("content") or "")).get("error") or {}
        except (ValueError, AttributeError):
            continue
        if isinstance(error, dict) and error.get("code") == CORRECTABLE_CODE:
            refused_ids.add(message.get("tool_call_id"))
    urls = []
    for call in last_assistant.get("tool_calls") or []:
        if call.get("id") not in refused_ids:
            continue
        try:
            arguments = json.loads(call["function"]["arguments"])
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(arguments, dict) and "url" not in arguments:  # corrected once; never loops
            urls += [v for v in arguments.values() if isinstance(v, str) and v.startswith(("http://", "https://"))]
    return urls
