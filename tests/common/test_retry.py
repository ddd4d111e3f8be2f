"""The retry policy: backoff with jitter, only what is retryable, bounded by
attempts and by the deadline, and an upstream's Retry-After honoured."""

from __future__ import annotations

import time

import pytest

from agent_common.resilience import RetryPolicy
from tests.support.garbage import cyclic_garbage, described


class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


def failing(times: int, exc: Exception) -> tuple[list[float], object]:
    calls: list[float] = []

    async def attempt() -> str:
        calls.append(time.monotonic())
        if len(calls) <= times:
            raise exc
        return "ok"

    return calls, attempt


FAST = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.05, budget_s=5)


async def test_a_retryable_failure_is_retried_until_it_succeeds() -> None:
    calls, attempt = failing(2, Flaky())
    waits: list[float] = []
    result = await FAST.call(
        attempt,  # type: ignore[arg-type]
        retryable=lambda e: isinstance(e, Flaky),
        deadline_at=time.time() + 10,
        on_retry=lambda _, wait: waits.append(wait),
    )
    assert result == "ok" and len(calls) == 3 and len(waits) == 2
    assert all(0 <= w <= 0.05 for w in waits)


async def test_attempts_are_bounded_and_the_last_failure_is_raised() -> None:
    calls, attempt = failing(10, Flaky())
    with pytest.raises(Flaky):
        await FAST.call(attempt, retryable=lambda e: isinstance(e, Flaky), deadline_at=time.time() + 10)  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_what_is_not_retryable_fails_at_once() -> None:
    calls, attempt = failing(1, Fatal())
    with pytest.raises(Fatal):
        await FAST.call(attempt, retryable=lambda e: isinstance(e, Flaky), deadline_at=time.time() + 10)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_retry_after_is_waited_for() -> None:
    calls, attempt = failing(1, Flaky(retry_after=0.3))
    waits: list[float] = []
    await FAST.call(
        attempt,  # type: ignore[arg-type]
        retryable=lambda e: isinstance(e, Flaky),
        deadline_at=time.time() + 10,
        on_retry=lambda _, wait: waits.append(wait),
    )
    assert waits == [0.3] and len(calls) == 2  # longer than the backoff's cap: the upstream asked for it


async def test_a_retry_after_past_the_deadline_ends_the_retries_at_once() -> None:
    calls, attempt = failing(1, Flaky(retry_after=60))
    waits: list[float] = []
    with pytest.raises(Flaky):
        await FAST.call(
            attempt,  # type: ignore[arg-type]
            retryable=lambda e: isinstance(e, Flaky),
            deadline_at=time.time() + 2,
            on_retry=lambda _, wait: waits.append(wait),
        )
    assert len(calls) == 1 and waits == []  # no wait that could only end in failure


async def test_a_call_that_succeeds_leaves_no_cyclic_garbage() -> None:
    # Every model call is one: tenacity's retrier keeps its last round's bound methods on itself.
    _, attempt = failing(0, Flaky())
    with cyclic_garbage() as left:
        assert await FAST.call(attempt, retryable=lambda exc: True, deadline_at=time.time() + 5) == "ok"  # type: ignore[arg-type]
    assert not left, described(left)
