"""The model as the agent loop sees it: every endpoint behind retries and a
circuit breaker, a secondary endpoint tried when the first stays unavailable.

A model step is retried only when a retry can help (429 honouring
`Retry-After`, 5xx, timeouts, lost connections) and only while nothing of its
answer has reached the client: once tokens were sent, a failure ends the run
with an error that says the answer is incomplete, never a silent restart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from agent_common.errors import ErrorCode, PlatformError
from agent_common.resilience import BreakerOpen, CircuitBreaker, RetryPolicy
from agent_common.settings import ModelSettings
from agent_orchestrator import metrics
from agent_orchestrator.model_client import ModelClient, ModelTurn, OnToken
from agent_orchestrator.settings import ModelResilienceSettings, SecondaryModelSettings

log = logging.getLogger("agent.orchestrator.model")

RETRYABLE = frozenset(
    {
        ErrorCode.MODEL_RATE_LIMITED,
        ErrorCode.MODEL_UNAVAILABLE,
        ErrorCode.MODEL_TIMEOUT,
        ErrorCode.MODEL_STREAM_INTERRUPTED,
    }
)
CIRCUIT_OPEN = "circuit_open"
# What counts against an endpoint's breaker: the endpoint failing, not the request being refused.
BREAKER_FAILURES = RETRYABLE


@dataclass
class Endpoint:
    client: ModelClient
    breaker: CircuitBreaker


class _Attempt:
    """One model step's attempts share this: whether any token reached the client."""

    def __init__(self, on_token: OnToken) -> None:
        self._on_token = on_token
        self.sent = False

    async def __call__(self, text: str) -> None:
        self.sent = True
        await self._on_token(text)


class ResilientModel:
    def __init__(self, endpoints: Sequence[Endpoint], retry: RetryPolicy) -> None:
        if not endpoints:
            raise ValueError("at least one model endpoint")
        self._endpoints = list(endpoints)
        self._retry = retry

    @classmethod
    def from_settings(
        cls,
        primary: ModelSettings,
        resilience: ModelResilienceSettings,
        secondary: SecondaryModelSettings | None = None,
    ) -> ResilientModel:
        endpoints = [Endpoint(ModelClient(primary), _breaker("primary", resilience))]
        if secondary is not None and secondary.base_url:
            # Never the primary's key: it must not be sent to another endpoint. Endpoints
            # without keys (vLLM, Ollama) accept any, and the SDK insists on one.
            key = secondary.api_key if secondary.api_key.get_secret_value() else SecretStr("none")
            settings = primary.model_copy(
                update={
                    "base_url": secondary.base_url,
                    "name": secondary.name or primary.name,
                    "api_key": key,
                    "provider": secondary.provider or primary.provider,
                }
            )
            endpoints.append(Endpoint(ModelClient(settings), _breaker("secondary", resilience)))
        return cls(endpoints, resilience.retry_policy())

    @property
    def model(self) -> str:
        return self._endpoints[0].client.model

    @property
    def breakers(self) -> list[CircuitBreaker]:
        return [e.breaker for e in self._endpoints]

    async def ping(self) -> bool:
        """Ready when any endpoint answers: a secondary keeps the platform serving."""
        failure: Exception | None = None
        for endpoint in self._endpoints:
            try:
                return await endpoint.client.ping()
            except Exception as exc:  # the next endpoint may answer
                failure = exc
        raise failure or RuntimeError("no model endpoint")

    async def close(self) -> None:
        for endpoint in self._endpoints:
            await endpoint.client.close()

    async def stream_turn(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], on_token: OnToken, deadline_at: float
    ) -> ModelTurn:
        attempt = _Attempt(on_token)
        last: PlatformError | None = None
        for index, endpoint in enumerate(self._endpoints):
            if index:
                metrics.MODEL_FALLBACKS.labels(endpoint.client.model).inc()
                log.warning("trying the secondary model", extra={"after": last.code.value if last else None})
            try:
                return await self._with_retries(endpoint, messages, tools, attempt, deadline_at)
            except PlatformError as exc:
                if attempt.sent or exc.code not in RETRYABLE:
                    raise
                last = exc
        raise last or PlatformError(ErrorCode.MODEL_UNAVAILABLE, "No model endpoint answered.")

    async def _with_retries(
        self,
        endpoint: Endpoint,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        attempt: _Attempt,
        deadline_at: float,
    ) -> ModelTurn:
        model = endpoint.client.model

        async def once() -> ModelTurn:
            try:
                endpoint.breaker.before_call()
            except BreakerOpen as exc:
                raise PlatformError(
                    ErrorCode.MODEL_UNAVAILABLE,
                    "The model is failing; calls to it are paused for a moment.",
                    reason=CIRCUIT_OPEN,
                    retry_after=round(exc.retry_in_s, 1),
                ) from exc
            try:
                turn = await endpoint.client.stream_turn(messages, tools, attempt, deadline_at)
            except PlatformError as exc:
                if exc.code in BREAKER_FAILURES:
                    endpoint.breaker.record_failure()
                else:
                    endpoint.breaker.record_success()  # the endpoint answered; the request was the problem
                metrics.MODEL_CALLS.labels(model, exc.code.value).inc()
                raise
            endpoint.breaker.record_success()
            metrics.MODEL_CALLS.labels(model, "ok").inc()
            return turn

        def retryable(exc: BaseException) -> bool:
            # Not an open breaker (it would refuse again at once), never after tokens were sent.
            if not isinstance(exc, PlatformError) or exc.info.details.get("reason") == CIRCUIT_OPEN:
                return False
            return exc.code in RETRYABLE and not attempt.sent

        def on_retry(exc: BaseException, delay: float) -> None:
            code = exc.code.value if isinstance(exc, PlatformError) else type(exc).__name__
            metrics.MODEL_RETRIES.labels(model, code).inc()
            log.warning("retrying the model call", extra={"error_code": code, "wait_s": round(delay, 2)})

        # A 429's `Retry-After` is its `retry_after` detail, which the policy honours.
        return await self._retry.call(once, retryable=retryable, deadline_at=deadline_at, on_retry=on_retry)


def _breaker(role: str, resilience: ModelResilienceSettings) -> CircuitBreaker:
    return CircuitBreaker(f"model:{role}", resilience.breaker(), metric_label=f"model:{role}")
