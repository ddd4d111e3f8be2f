"""Fault injection, so resilience code can be tested over the real protocol.

A fault comes from one of two places:

- the admin API queue (`POST /admin/faults`), applied to the next `count`
  completion requests whatever they say;
- a directive in the latest user message, `[[offline:<kind>]]`, applied to
  every request whose latest user message carries it. A directive wins over the
  queue, and a request that carries one does not use up a queued fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    """HTTP 429 with `Retry-After`."""
    SERVER_ERROR = "server_error"
    """HTTP 500."""
    STALL = "stall"
    """Hold the request for `delay_ms` before answering at all."""
    DROP_MID_STREAM = "drop_mid_stream"
    """Send about half the answer, then cut the connection."""
    SLOW = "slow"
    """Stream with `delay_ms` between tokens."""
    OVERLOADED = "overloaded"
    """HTTP 503 with `Retry-After`, as a server with no free slot answers."""
    UNAUTHORIZED = "unauthorized"
    """HTTP 401, as OpenAI answers a wrong API key."""
    MODEL_NOT_FOUND = "model_not_found"
    """HTTP 404, as OpenAI answers a model name it does not serve."""
    CONTEXT_OVERFLOW = "context_overflow"
    """HTTP 400 `context_length_exceeded`, OpenAI's answer to a prompt longer than the window."""
    CONTEXT_OVERFLOW_LLAMACPP = "context_overflow_llamacpp"
    """HTTP 400 `exceed_context_size_error`, llama.cpp's server's answer to the same."""


DEFAULT_DELAY_MS: dict[FaultKind, int] = {
    FaultKind.STALL: 30_000,  # longer than any sensible first-token timeout
    FaultKind.SLOW: 1_000,
}

DIRECTIVE_PATTERN = re.compile(r"\[\[offline:([a-z_]+)\]\]")


class FaultSpec(BaseModel):
    """The body of `POST /admin/faults`."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    count: int = Field(default=1, ge=1, le=10_000)
    retry_after_s: int = Field(default=1, ge=0, le=86_400)
    delay_ms: int | None = Field(default=None, ge=0, le=600_000)


@dataclass(frozen=True)
class Fault:
    """One fault, as applied to one request."""

    kind: FaultKind
    retry_after_s: int = 1
    delay_ms: int | None = None

    @property
    def delay_s(self) -> float:
        """The stall's or the slow stream's delay, the kind's default when not given."""
        ms = self.delay_ms if self.delay_ms is not None else DEFAULT_DELAY_MS.get(self.kind, 0)
        return ms / 1000


def directive_fault(text: str) -> Fault | None:
    """The fault a `[[offline:<kind>]]` directive in `text` asks for (the first known one)."""
    for match in DIRECTIVE_PATTERN.finditer(text):
        try:
            return Fault(FaultKind(match.group(1)))
        except ValueError:
            continue  # an unknown kind is left alone, like any other text
    return None


def strip_directives(text: str) -> str:
    """`text` without its directives: they are instructions to the model, not content to quote."""
    return DIRECTIVE_PATTERN.sub("", text)


@dataclass
class _Queued:
    spec: FaultSpec
    remaining: int


class FaultQueue:
    """Faults queued through the admin API, first in first out, one `count` at a time.

    One queue per app instance, so two apps in one process (tests) never share faults.
    """

    def __init__(self) -> None:
        self._queued: list[_Queued] = []

    def add(self, spec: FaultSpec) -> None:
        self._queued.append(_Queued(spec, spec.count))

    def take(self) -> Fault | None:
        """The fault for the next completion request, if any; uses up one of its `count`."""
        if not self._queued:
            return None
        head = self._queued[0]
        head.remaining -= 1
        if head.remaining <= 0:
            self._queued.pop(0)
        return Fault(head.spec.kind, head.spec.retry_after_s, head.spec.delay_ms)

    def pending(self) -> list[dict[str, Any]]:
        return [
            {
                "kind": str(q.spec.kind),
                "remaining": q.remaining,
                "retry_after_s": q.spec.retry_after_s,
                "delay_ms": q.spec.delay_ms,
            }
            for q in self._queued
        ]

    def clear(self) -> int:
        """Drop every queued fault; returns how many requests they would have affected."""
        cleared = sum(q.remaining for q in self._queued)
        self._queued.clear()
        return cleared
