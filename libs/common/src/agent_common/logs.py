"""Structured JSON logs that carry the ids of the work being done.

Ids are bound in a context variable (`bind_ids`) at the edge of each unit of
work (an HTTP request, a consumed message), so every log line written while
handling it carries them without passing them around; the current span's
`trace_id` joins them, so a log line leads to its trace and back.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import orjson
from opentelemetry import trace

# Immutable on purpose: bind_ids sets a new mapping, never mutates the current one.
_ids: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("log_ids", default=MappingProxyType({}))

# Record attributes that are not ours to print; `color_message` is uvicorn's ANSI copy of the message.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


# Line breaks to readers that split on Unicode's (Python's `str.splitlines`, JavaScript's
# line terminators) but legal raw in a JSON string, so orjson leaves them: escaped here so
# that one record is always one line. (Control characters below U+0020 are escaped by JSON.)
_UNICODE_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


@contextmanager
def bind_ids(**ids: str | None) -> Iterator[None]:
    """Attach ids (request_id, session_id, user_id...) to every log line in this context."""
    merged = {**_ids.get(), **{k: v for k, v in ids.items() if v}}
    token = _ids.set(merged)
    try:
        yield
    finally:
        _ids.reset(token)


def current_ids() -> dict[str, str]:
    return dict(_ids.get())


def current_trace_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span (agent_common.tracing), empty outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "event": record.getMessage(),
            **_ids.get(),
            **current_trace_ids(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode().translate(_UNICODE_LINE_BREAKS)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that log every request or message at INFO drown the platform's own lines.
    for noisy in ("uvicorn.access", "aiokafka", "agent.bus.faststream", "httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
