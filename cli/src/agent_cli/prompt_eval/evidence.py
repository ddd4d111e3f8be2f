"""What a rule looks at: what the platform did with one question, and the run's setup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ToolCallSeen:
    """One tool call as the stream showed it: `tool_start`, then (normally) `tool_end`."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    ok: bool | None = None  # None: no tool_end arrived
    error_code: str | None = None

    @property
    def host(self) -> str:
        url = self.arguments.get("url")
        return (urlsplit(url).hostname or "") if isinstance(url, str) else ""


@dataclass(frozen=True)
class Outcome:
    """What the platform did with one question."""

    question: str
    answer: str
    terminal: str  # "done", "error", or "" when the stream ended without either
    error_code: str | None = None
    tool_calls: tuple[ToolCallSeen, ...] = ()
    fetched_hosts: tuple[str, ...] = ()  # host names the runner's page server was asked for, during this case
    model: str = ""


@dataclass(frozen=True)
class Context:
    """What the runner knows about the platform under test."""

    system_prompt: str
    secrets: tuple[str, ...] = ()  # configured key values that must never appear in an answer
    offlist_host: str = "localhost"  # the page server's other name, which the allowlist must not name


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


# ---- text helpers ----
