"""One path from raw bytes to a handler, the same for every transport.

What a message's own content makes fail is parked on the dead-letter topic,
so it does not block the messages behind it: bytes that do not decode or do not
validate at once (retrying cannot make them valid), a handler that raises a few
times with backoff. The consumer then goes on and the message is committed.

A handler that fails because Redis or the broker is unreachable (`outage_of`)
is not failing for its message, which is never parked for it: the handler is
tried again with backoff, holding its partition (the messages behind it wait
in Kafka, in order), for as long as the outage lasts. Past the ride-through
bound this is logged once and counted; it goes on until the handler succeeds
or the consumer stops, and then the message is not committed, so it is
delivered again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson
from pydantic import ValidationError

from agent_common.bus.metrics import DEAD_LETTERS, OUTAGE_RETRIES, OUTAGES_PAST_BOUND
from agent_common.messages import BusMessage, DeadLetter
from agent_common.resilience.outages import BACKOFF_MAX_S, Outage, backoff_s, outage_of

log = logging.getLogger("agent.bus")

M = TypeVar("M", bound=BusMessage)
Handler = Callable[[M], Awaitable[None]]
DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]

MAX_ERROR_CHARS = 2000
# Past the bound an outage is a long one: asking every 5 s at most is enough.
LONG_OUTAGE_BACKOFF_MAX_S = 5.0


@dataclass(frozen=True)
class HandlerRetries:
    """How a failing handler is tried again."""

    attempts: int = 3
    """Calls at most, the first included, for a failure that is not an outage; then the message is parked."""
    backoff_s: float = 0.2
    backoff_max_s: float = 2.0
    outage_bound_s: float = 5.0
    """How long an outage is ridden through quietly; past it, logged and counted, but still retried."""


HANDLER_RETRIES = HandlerRetries()


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
    retries: HandlerRetries = HANDLER_RETRIES,
) -> None:
    """Decode `raw` and run `handler` on it; whatever cannot be handled for its own content is
    parked with the reason. Returns once handled or parked; an outage holds it here."""
    try:
        message = model.model_validate_json(raw)
    except ValidationError as exc:
        try:
            orjson.loads(raw)
            reason, error = "invalid", str(exc.errors(include_url=False)[:5])
        except orjson.JSONDecodeError as not_json:
            reason, error = "undecodable", str(not_json)
        await _park(park, dead_letter(topic, raw, reason, error, 1, None), retries.outage_bound_s)
        return
    ids: dict[str, str | None] = {"topic": topic, "request_id": message.request_id, "message_id": message.message_id}
    attempts = failures = 0
    held: _HeldByOutage | None = None
    while True:
        attempts += 1
        try:
            await handler(message)
        except Exception as exc:
            if (outage := outage_of(exc)) is not None:
                held = held or _HeldByOutage(retries.outage_bound_s, ids)
                await asyncio.sleep(held.failed(outage, exc))
                continue
            failures += 1
            if failures >= retries.attempts:
                log.exception("handler failed; message parked", extra=ids)
                error = f"{type(exc).__name__}: {exc}"
                letter = dead_letter(topic, raw, "handler_failed", error, attempts, message.request_id)
                await _park(park, letter, retries.outage_bound_s)
                return
            log.warning("handler failed; retrying", extra={**ids, "attempt": attempts, "error": repr(exc)[:300]})
            await asyncio.sleep(backoff_s(failures, retries.backoff_s, retries.backoff_max_s))
            continue
        if held is not None:
            log.info("handled after an outage", extra={**ids, "attempts": attempts})
        return


class _HeldByOutage:
    """A message whose handler (or whose parking) fails for an outage: counted, logged when met
    and once more at the bound, and waited on with backoff, longer past the bound."""

    def __init__(self, bound_s: float, ids: dict[str, str | None]) -> None:
        self._bound_s = bound_s
        self._ids = ids
        self._since = time.monotonic()
        self._failures = 0
        self._past_bound = False

    def failed(self, outage: Outage, exc: BaseException) -> float:
        """Record a failure for `outage`; how long to wait before the next attempt."""
        self._failures += 1
        topic = str(self._ids["topic"])
        OUTAGE_RETRIES.labels(topic, outage.value).inc()
        extra = {**self._ids, "outage": outage.value, "error": repr(exc)[:300]}
        if self._failures == 1:
            log.warning("outage met; retrying until it is over", extra=extra)
        if not self._past_bound and time.monotonic() - self._since >= self._bound_s:
            self._past_bound = True
            OUTAGES_PAST_BOUND.labels(topic, outage.value).inc()
            log.error(
                "outage outlasted the ride-through bound; the message is held and retried, never dead-lettered",
                extra={**extra, "bound_s": self._bound_s},
            )
        cap = LONG_OUTAGE_BACKOFF_MAX_S if self._past_bound else BACKOFF_MAX_S
        return backoff_s(self._failures, max_s=cap)


async def _park(park: DeadLetterSink, letter: DeadLetter, bound_s: float) -> None:
    DEAD_LETTERS.labels(letter.source_topic, letter.reason).inc()
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
    held: _HeldByOutage | None = None
    while True:
        try:
            await park(letter)
            return
        except Exception as exc:
            if (outage := outage_of(exc)) is None:  # the log line above is then the only record: say so
                log.exception("could not publish the dead letter", extra={"dead_letter_id": letter.message_id})
                return
            # The broker is away: the letter waits for it, as the message it stands for is not committed.
            held = held or _HeldByOutage(bound_s, {"topic": letter.source_topic, "dead_letter_id": letter.message_id})
            await asyncio.sleep(held.failed(outage, exc))
