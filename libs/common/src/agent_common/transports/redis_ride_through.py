"""Every command on the process's Redis pool rides through a short outage of Redis.

redis-py retries a command on its connection when the connection fails, through the
`Retry` the pool gives every connection. `RedisRideThrough` is that `Retry`, bounded
in time rather than in attempts: a command that fails because Redis is unreachable
(the connection refused or dropped, a timeout, Redis loading its data after a
restart, a failover under way) is sent again, at once and then with jittered
backoff, until `REDIS_RIDE_THROUGH_S` has passed since its first failure; then it
raises `OutageTooLong` (`INFRA_UNAVAILABLE`, `redis_unavailable`).

Why in the pool rather than around chosen calls: every Redis call on a run's path
(run events, claims and leases, sessions, owners, rate limits) then rides through
the same way, a pipeline as one unit, and a new call site cannot forget to. The
price is that every command on the pool must be safe to send twice, since the
attempt that failed may have been carried out (its reply lost, or a paused Redis
running it on SIGCONT): each store says how it is (an attempt id its script
recognises, or a write that is the same done twice).

An exception from inside the client that is none of Redis's own errors (an
`AttributeError` writing on a connection closed under it, redis/redis-py#4287) says the
connection's state is broken, not the command: it is counted
(`redis_client_faults_total`), logged with its traceback, and the command is sent once
more on a fresh connection; the same fault again there is a defect, and raises.

One instance serves every connection of the pool (redis-py copies a pool's `Retry`
into each connection: this one hands itself out), so it knows when the process last
saw Redis away (`outage_within`): the takeover sweep waits a lease after an outage,
letting live replicas renew the leases that ran out meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent_common.resilience.outage_metrics import count_client_fault, count_retry
from agent_common.resilience.outages import Outage, OutageTooLong, backoff_s

log = logging.getLogger("agent.redis")

T = TypeVar("T")

# What an outage looks like from a command (as `outages.outage_of` says); anything else,
# a script's error say, fails at once.
_OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, TryAgainError)


class RedisRideThrough(Retry):
    def __init__(self, bound_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(NoBackoff(), retries=-1, supported_errors=_OUTAGE_ERRORS)
        self.bound_s = bound_s
        self._clock = clock
        self._last_outage_at: float | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self  # shared by every connection of the pool: it keeps no per-call state

    def outage_within(self, window_s: float) -> bool:
        """Whether a command of this process found Redis unreachable in the last `window_s`."""
        return self._last_outage_at is not None and self._clock() - self._last_outage_at < window_s

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        first_failure_at: float | None = None
        failures = 0
        client_faulted = False
        while True:
            try:
                return await do()
            except _OUTAGE_ERRORS as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                now = self._clock()
                if first_failure_at is None:
                    first_failure_at = now
                self._last_outage_at = now
                # redis-py's own handler: drops the connection, so the next try makes a new one.
                await (fail(error, failures) if with_failure_count else fail(error))
                left = self.bound_s - (now - first_failure_at)
                if failures > 1 and left <= 0:
                    raise OutageTooLong(Outage.REDIS, self.bound_s) from error
                count_retry(Outage.REDIS, error)
                if failures == 1:
                    # Again at once: a pooled connection that died with a restarted Redis fails
                    # once, and the next one is fresh.
                    log.debug("Redis unreachable (%s); riding through for up to %gs", error, self.bound_s)
                    continue
                await asyncio.sleep(min(backoff_s(failures - 1), left))
            except RedisError:
                raise  # Redis answered (a script's error, a wrong type): sending it again changes nothing
            except Exception as error:
                if client_faulted:
                    raise  # again on a fresh connection: not the connection's state but a defect
                client_faulted = True
                count_client_fault(error)
                log.warning("The Redis client failed inside a command; again on a fresh connection", exc_info=error)
                await (fail(error, failures + 1) if with_failure_count else fail(error))
