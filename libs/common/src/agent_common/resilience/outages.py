"""Telling an outage of the platform's own infrastructure (Redis, the Kafka broker)
from a failure of the work itself, and riding through a short one.

Redis restarts, failovers and network blips of a few seconds are routine. Work
that fails because Redis or the broker is unreachable for a moment is not wrong:
it is retried with backoff for a bounded time (`REDIS_RIDE_THROUGH_S`,
`BUS_RIDE_THROUGH_S`), and only then fails, with an error that names the outage
(`INFRA_UNAVAILABLE`, `details.reason` `redis_unavailable` or `bus_unavailable`).
A failure of anything else (a bug, a message of the wrong shape) is never taken
for an outage: retrying cannot fix it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_before_delay
from tenacity.wait import wait_random_exponential

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError

T = TypeVar("T")

# Waits between attempts: jittered, doubling from 50 ms up to 1 s, so a blip of a
# second costs about a second and a longer outage is asked about once a second.
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 1.0


def backoff_s(attempt: int, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S) -> float:
    """The wait before retry number `attempt` (from 1): full jitter, random in
    [0, base x 2^(attempt-1)], capped at `max_s` (tenacity's `wait_random_exponential`)."""
    return random.uniform(0, min(max_s, base_s * 2 ** min(attempt - 1, 30)))  # nosec B311 - jitter, not secrecy


class Outage(StrEnum):
    """Which piece of infrastructure is away; `<value>_unavailable` is the error's reason."""

    REDIS = "redis"
    BUS = "bus"

    @property
    def reason(self) -> str:
        return f"{self.value}_unavailable"


# Redis: the connection failed or timed out, the server is loading its data after a
# restart (BusyLoadingError is a ConnectionError), or a failover is under way (the old
# primary answers READONLY, a cluster slot is moving: TRYAGAIN).
_REDIS_OUTAGES: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    TryAgainError,
)


def outage_of(exc: BaseException) -> Outage | None:
    """The outage `exc` comes from, looking through its causes; None when it is no outage."""
    # Imported here: the embedded default and the CLI's start-up never load Kafka's client.
    from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PlatformError):
            reason = current.info.details.get("reason")
            for outage in Outage:
                if reason == outage.reason:
                    return outage
        if isinstance(current, _REDIS_OUTAGES):
            return Outage.REDIS
        if isinstance(current, (KafkaConnectionError, KafkaTimeoutError)) or (
            isinstance(current, KafkaError) and current.retriable
        ):
            return Outage.BUS
        current = current.__cause__ or current.__context__
    return None


def outage_error(outage: Outage, bound_s: float) -> ErrorInfo:
    """The error a run ends with when `outage` lasted longer than it could ride through."""
    what = "The platform's state store (Redis)" if outage is Outage.REDIS else "The platform's message bus (Kafka)"
    return ErrorInfo.of(
        ErrorCode.INFRA_UNAVAILABLE,
        f"{what} was unreachable for longer than {bound_s:g} s; please try again.",
        reason=outage.reason,
    )


class OutageTooLong(PlatformError):
    """An outage outlasted its bound: carries `outage_error`, and the last failure as its cause."""

    def __init__(self, outage: Outage, bound_s: float) -> None:
        info = outage_error(outage, bound_s)
        super().__init__(info.code, info.message, **info.details)
        self.outage = outage


async def ride_through(
    call: Callable[[], Awaitable[T]],
    bound_s: float,
    *,
    only: Outage | None = None,
    on_retry: Callable[[Outage, BaseException], None] | None = None,
) -> T:
    """Await `call()`, calling it again while it fails for an outage (of `only`, if given),
    until `bound_s` has passed since the first failure; then raise `OutageTooLong`.
    Any other failure is raised at once, as it was.

    `call` must be safe to repeat: the attempt that failed may have been carried out
    (its answer lost on the way back).
    """

    def is_outage(exc: BaseException) -> bool:
        outage = outage_of(exc)
        return outage is not None and (only is None or outage is only)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and exc is not None and (outage := outage_of(exc)) is not None:
            on_retry(outage, exc)

    try:
        return await call()
    except Exception as first:
        if not is_outage(first):
            raise
        if on_retry is not None and (outage := outage_of(first)) is not None:
            on_retry(outage, first)
    # Again at once (a pooled connection that died with a restarted server fails once, and the
    # next one is fresh), then with backoff, for `bound_s` from the first failure.
    retrying = AsyncRetrying(
        stop=stop_before_delay(bound_s),
        wait=wait_random_exponential(multiplier=BACKOFF_BASE_S, max=BACKOFF_MAX_S),
        retry=retry_if_exception(is_outage),
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:
        # Awaited here: tenacity would hand back, unawaited, a coroutine from a plain callable (a lambda).
        return await call()

    try:
        return await retrying(attempt)
    except Exception as last:
        outage = outage_of(last)
        if outage is None or (only is not None and outage is not only):
            raise
        raise OutageTooLong(outage, bound_s) from last
