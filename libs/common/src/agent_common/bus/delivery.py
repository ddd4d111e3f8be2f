"""One path from raw bytes to a handler, the same for every transport.

A message that cannot be decoded or does not validate is parked on the
dead-letter topic at once: retrying cannot make it valid, and it must not
block the messages behind it. A handler that raises is retried a few times
with backoff (Redis away for a moment, say), then its message is parked too.
Either way the consumer goes on, and the message is committed: nothing is
dropped silently and nothing loops forever.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from pydantic import ValidationError

from agent_common.messages import BusMessage, DeadLetter
from agent_common.resilience import RetryPolicy

log = logging.getLogger("agent.bus")

M = TypeVar("M", bound=BusMessage)
Handler = Callable[[M], Awaitable[None]]
DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]

HANDLER_RETRIES = RetryPolicy(attempts=3, backoff_s=0.2, backoff_max_s=2.0, budget_s=10.0)
MAX_ERROR_CHARS = 2000


def dead_letter(topic: str, raw: bytes, reason: str, error: str, attempts: int, request_id: str | None) -> DeadLetter:
    try:
        payload, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return DeadLetter.model_validate(
        {
            "source_topic": topic,
            "reason": reason,
            "error": error[:MAX_ERROR_CHARS],
            "attempts": attempts,
            "payload": payload,
            "payload_encoding": encoding,
            "request_id": request_id,
        }
    )


async def deliver(
    model: type[M],
    handler: Handler[M],
    raw: bytes,
    topic: str,
    park: DeadLetterSink,
    retries: RetryPolicy = HANDLER_RETRIES,
) -> None:
    """Decode `raw` and run `handler` on it; whatever cannot be handled is parked with the reason."""
    try:
        message = model.model_validate_json(raw)
    except ValidationError as exc:
        try:
            orjson.loads(raw)
            reason, error = "invalid", str(exc.errors(include_url=False)[:5])
        except orjson.JSONDecodeError as not_json:
            reason, error = "undecodable", str(not_json)
        await _park(park, dead_letter(topic, raw, reason, error, 1, None))
        return
    attempts = 0

    async def attempt() -> None:
        nonlocal attempts
        attempts += 1
        await handler(message)

    try:
        await retries.call(attempt, retryable=lambda _: True, deadline_at=time.time() + retries.budget_s)
    except Exception as exc:
        log.exception(
            "handler failed; message parked",
            extra={"topic": topic, "request_id": message.request_id, "message_id": message.message_id},
        )
        error = f"{type(exc).__name__}: {exc}"
        await _park(park, dead_letter(topic, raw, "handler_failed", error, attempts, message.request_id))


async def _park(park: DeadLetterSink, letter: DeadLetter) -> None:
    log.error(
        "message dead-lettered",
        extra={
            "topic": letter.source_topic,
            "reason": letter.reason,
            "dead_letter_id": letter.message_id,
            "request_id": letter.request_id,
            "error": letter.error[:300],
        },
    )
    try:
        await park(letter)
    except Exception:  # the log line above is then the only record: say so
        log.exception("could not publish the dead letter", extra={"dead_letter_id": letter.message_id})
