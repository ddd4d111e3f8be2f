"""Retrying a call: exponential backoff with full jitter, bounded in attempts and
by a total deadline, honouring an upstream's `Retry-After` (tenacity).

Only what a retry can fix is retried: the caller says which failures those
are. A `Retry-After` longer than what is left of the deadline ends the retries
at once: waiting would only fail later.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_random_exponential

T = TypeVar("T")


def retry_after_s(exc: BaseException) -> float | None:
    """The `Retry-After` an exception carries, in seconds, if any: its `retry_after`, or the
    `retry_after` detail of a `PlatformError`'s error."""
    value = getattr(exc, "retry_after", None)
    if value is None:
        details = getattr(getattr(exc, "info", None), "details", None)
        value = details.get("retry_after") if isinstance(details, dict) else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    """Calls at most, the first included."""
    backoff_s: float = 0.5
    """Base of the exponential backoff; each wait is random in [0, base x 2^n], capped."""
    backoff_max_s: float = 8.0
    """Longest single wait (a `Retry-After` may ask for more, up to the deadline)."""
    budget_s: float = 20.0
    """Total time for all attempts and waits, whatever the deadline leaves."""

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retryable: Callable[[BaseException], bool],
        deadline_at: float,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> T:
        """Run `attempt` until it succeeds, fails with what is not `retryable`, or the
        attempts or the time run out; the last failure is raised as it was."""
        budget = max(0.0, min(self.budget_s, deadline_at - time.time()))
        jitter = wait_random_exponential(multiplier=self.backoff_s, max=self.backoff_max_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = retry_after_s(exc) if exc is not None else None
            return max(asked or 0.0, jitter(state))

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if on_retry is not None and exc is not None and state.next_action is not None:
                on_retry(exc, state.next_action.sleep)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | stop_before_delay(budget),
            wait=wait,
            retry=retry_if_exception(retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return await retrying(attempt)
        finally:
            # Its last round's actions are its own bound methods, kept on it: a cycle the
            # collector would otherwise walk for every call (every model call is one).
            retrying.iter_state.reset()
