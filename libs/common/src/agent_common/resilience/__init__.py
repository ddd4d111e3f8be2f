"""Resilience for calls to things outside the process: retries with backoff and
jitter (tenacity), circuit breakers over a failure-rate window, and the
fallback messages users see when an upstream stays down."""

from agent_common.resilience.breaker import BreakerOpen, BreakerSettings, CircuitBreaker, CircuitBreakers
from agent_common.resilience.retry import RetryPolicy, retry_after_s

__all__ = ["BreakerOpen", "BreakerSettings", "CircuitBreaker", "CircuitBreakers", "RetryPolicy", "retry_after_s"]
