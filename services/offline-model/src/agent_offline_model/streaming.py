"""Delivering a completion: the SSE stream with its pacing, the paced JSON
answer, and the two ways a `drop_mid_stream` fault cuts a response short."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from agent_offline_model.wire import (
    SSE_DONE,
    Completion,
    ResponseMeta,
    chunk_object,
    first_delta,
    sse_event,
    usage_chunk_object,
)


class StreamDropped(Exception):
    """Raised on purpose inside a response: the server then closes the connection
    without finishing the body, which is what a client sees when a real stream dies."""


def _is_drop(exc: BaseException | None) -> bool:
    if isinstance(exc, StreamDropped):
        return True
    if isinstance(exc, BaseExceptionGroup):  # a task group in some middleware may wrap it
        return exc.subgroup(StreamDropped) is not None
    return False


class QuietDrops(logging.Filter):
    """Turns the server's "Exception in ASGI application" traceback for an injected
    drop into one line: it is the fault working, not a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and _is_drop(record.exc_info[1]):
            record.msg, record.args = "connection cut on purpose (drop_mid_stream fault)", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_drop_tracebacks(logger_name: str = "uvicorn.error") -> None:
    """Install `QuietDrops` on the server's error logger, once."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QuietDrops) for f in logger.filters):
        logger.addFilter(QuietDrops())


@dataclass(frozen=True)
class Pacing:
    first_token_s: float = 0.0
    between_tokens_s: float = 0.0

    def pause_before(self, index: int) -> float:
        return self.first_token_s if index == 0 else self.between_tokens_s

    def total(self, tokens: int) -> float:
        """How long generating `tokens` tokens takes."""
        return 0.0 if tokens == 0 else self.first_token_s + self.between_tokens_s * (tokens - 1)


@dataclass
class Served:
    """What the server has generated for its clients: tokens streamed (or answered whole), so a
    test can tell whether a model kept generating after its client went away."""

    tokens: int = 0


def dropped_count(total: int) -> int:
    """How many deltas a dropped stream still sends: about half, and at least one,
    so the client has a partial answer when the connection dies."""
    return max(1, total // 2)


async def sse_stream(
    meta: ResponseMeta,
    completion: Completion,
    prompt_tokens: int,
    *,
    include_usage: bool,
    pacing: Pacing,
    drop: bool = False,
    served: Served | None = None,
) -> AsyncIterator[bytes]:
    """The chunks of `completion` as OpenAI streams them, ending with `[DONE]`,
    or cut off after about half the deltas when `drop` is set."""
    deltas = completion.deltas[: dropped_count(len(completion.deltas))] if drop else completion.deltas
    for index, delta in enumerate(deltas):
        pause = pacing.pause_before(index)
        if pause > 0:
            await asyncio.sleep(pause)
        if index == 0:
            delta = first_delta(delta)
        if served is not None:
            served.tokens += 1
        yield sse_event(chunk_object(meta, delta, include_usage=include_usage))
    if drop:
        raise StreamDropped("offline model fault drop_mid_stream: the stream was cut on purpose")
    yield sse_event(chunk_object(meta, {}, completion.finish_reason, include_usage=include_usage))
    if include_usage:
        yield sse_event(usage_chunk_object(meta, prompt_tokens, completion.completion_tokens))
    yield SSE_DONE


class TruncatedJSONResponse(Response):
    """A JSON response that announces its full length, sends half the body and
    then dies: the non-streaming form of `drop_mid_stream`."""

    media_type = "application/json"

    def __init__(self, content: dict[str, Any]) -> None:
        super().__init__(json.dumps(content, ensure_ascii=False).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        raise StreamDropped("offline model fault drop_mid_stream: the response was cut on purpose")


async def sleep_unless_disconnected(receive: Receive, seconds: float) -> bool:
    """Sleep, but stop early when the client goes away, so a stalled request does
    not outlive its client (or hold up the server's shutdown).
    Returns whether the client is still there. Call only after the body was read."""
    if seconds <= 0:
        return True

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
    finally:
        watcher.cancel()
    return watcher not in done
