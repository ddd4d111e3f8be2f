"""Resilience for calls to things outside the process: retries with backoff and
jitter (tenacity), circuit breakers over a failure-rate window, and the
fallback messages users see when an upstream stays down; riding through a short
outage of Redis or the broker (`outages.py`)."""

from agent_common.resilience.breaker import BreakerOpen, BreakerSettings, CircuitBreaker, CircuitBreakers
from agent_common.resilience.outages import Outage, OutageTooLong, outage_error, outage_of, ride_through
from agent_common.resilience.retry import RetryPolicy, retry_after_s

__all__ = [
    "BreakerOpen",
    "BreakerSettings",
    "CircuitBreaker",
    "CircuitBreakers",
    "Outage",
    "OutageTooLong",
    "RetryPolicy",
    "outage_error",
    "outage_of",
    "retry_after_s",
    "ride_through",
]
