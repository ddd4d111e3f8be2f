"""The model as the agent loop sees it: every endpoint behind retries and a
circuit breaker, a secondary endpoint tried when the first stays unavailable.

A model step is retried only when a retry can help (a busy endpoint: 429, 503
or no first token, honouring `Retry-After`; a failing one: other 5xx, lost
connections, unfinished answers; never a refusal, a spent quota or a content
filter, however they come: `model_errors.py`) and only while nothing of its answer has
reached the client: once tokens were sent, a failure ends the run with an error
that says the answer is incomplete, never a silent restart. Only failing counts
against the endpoint's breaker (`model_errors.py` says which failure is which).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from agent_common.errors import ErrorCode, PlatformError
from agent_common.resilience import BreakerOpen, CircuitBreaker, RetryPolicy
from agent_common.resilience.breaker import BreakerState
from agent_common.settings import ModelSettings
from agent_orchestrator import metrics
from agent_orchestrator.conversation import ChatMessage, ToolDefinition
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.model_stream import FailedAttempt, ModelStream, ModelTurn, StreamNotRead, TextDelta
from agent_orchestrator.settings import ModelResilienceSettings, SecondaryModelSettings

log = logging.getLogger("agent.orchestrator.model")

# Failing: the endpoint is broken for now. Retried, and counted against its breaker.
FAILING = frozenset(
    {
        ErrorCode.MODEL_UNAVAILABLE,
        ErrorCode.MODEL_TIMEOUT,
        ErrorCode.MODEL_STREAM_INTERRUPTED,
    }
)
# Busy: the endpoint works but has no room for the call yet. Retried after a backoff that honours
# `Retry-After`, but never counted against the breaker: opening it would turn a queue into an outage.
BUSY = frozenset({ErrorCode.MODEL_RATE_LIMITED, ErrorCode.MODEL_OVERLOADED})
RETRYABLE = FAILING | BUSY
# What counts against an endpoint's breaker: the endpoint failing, not it being busy, misconfigured
# or the request being refused (too long, malformed).
BREAKER_FAILURES = FAILING
# What moves a step on to the next endpoint once retries are spent: a secondary may be free, up, or
# configured right (its own key and URL). Never a request the next endpoint would refuse too.
NEXT_ENDPOINT = RETRYABLE | {ErrorCode.MODEL_MISCONFIGURED}
CIRCUIT_OPEN = "circuit_open"


class ModelCircuitOpen(PlatformError):
    """The endpoint's breaker is open: the call was not made (`MODEL_UNAVAILABLE`, reason `circuit_open`)."""

    def __init__(self, retry_in_s: float) -> None:
        super().__init__(
            ErrorCode.MODEL_UNAVAILABLE,
            "The model is failing; calls to it are paused for a moment.",
            reason=CIRCUIT_OPEN,
            retry_after=round(retry_in_s, 1),
        )


@dataclass
class Endpoint:
    client: ModelClient
    breaker: CircuitBreaker


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
                    "context_window": secondary.context_window,
                }
            )
            endpoints.append(Endpoint(ModelClient(settings), _breaker("secondary", resilience)))
        return cls(endpoints, resilience.retry_policy())

    @property
    def model(self) -> str:
        return self._endpoints[0].client.model

    @property
    def max_output_tokens(self) -> int | None:
        return self._endpoints[0].client.max_output_tokens

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

    @asynccontextmanager
    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        deadline_at: float,
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[ResilientStream]:
        response = ResilientStream(self._endpoints, self._retry, messages, tools, deadline_at, max_tokens)
        try:
            yield response
        finally:
            await response.aclose()  # an attempt left open (the caller stopped early) closes its response


class ResilientStream:
    """One model step over the endpoints, retried and falling back while nothing was yielded:
    once text went to the caller (and on to the client), a failure is the caller's, never a
    silent restart that would stream the answer's first words again."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        retry: RetryPolicy,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        deadline_at: float,
        max_tokens: int | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._retry = retry
        self._messages = messages
        self._tools = tools
        self._deadline_at = deadline_at
        self._max_tokens = max_tokens
        self._turn: ModelTurn | None = None
        # Every call of this step that failed, in order (the ledger counts what retries cost).
        self.failed_attempts: list[FailedAttempt] = []
        self._deltas = self._stream()

    def __aiter__(self) -> AsyncIterator[TextDelta]:
        return self._deltas

    def turn(self) -> ModelTurn:
        if self._turn is None:
            raise StreamNotRead("the model's stream was not read to its end")
        return self._turn

    async def aclose(self) -> None:
        await self._deltas.aclose()

    async def _stream(self) -> AsyncGenerator[TextDelta, None]:
        last: PlatformError | None = None
        for index, endpoint in enumerate(self._endpoints):
            role = "secondary" if index else "primary"
            if index:
                metrics.MODEL_FALLBACKS.labels(endpoint.client.model).inc()
                log.warning("trying the secondary model", extra={"after": last.code.value if last else None})
            try:
                attempt = await self._until_first_text(endpoint, role)
            except PlatformError as exc:
                if exc.code not in NEXT_ENDPOINT:
                    raise
                last = exc
                continue
            async with attempt.stack:  # the endpoint's response, closed however this ends
                if attempt.first is not None:
                    try:
                        yield attempt.first
                        async for delta in attempt.deltas:
                            yield delta
                    except PlatformError as exc:
                        _record(endpoint, exc)
                        self._failed(endpoint, role, attempt.number, exc)
                        raise
                self._turn = attempt.response.turn()
                self._turn.role, self._turn.attempt = role, attempt.number
                self._turn.failed_attempts = list(self.failed_attempts)
            _record(endpoint, None)
            return
        raise last or PlatformError(ErrorCode.MODEL_UNAVAILABLE, "No model endpoint answered.")

    def _failed(self, endpoint: Endpoint, role: str, number: int, exc: PlatformError) -> None:
        self.failed_attempts.append(FailedAttempt(endpoint.client.model, role, number, exc.code.value))

    async def _until_first_text(self, endpoint: Endpoint, role: str) -> _Attempt:
        """The endpoint's stream up to its first text (or its end), with retries: until then,
        nothing reached the client."""
        model = endpoint.client.model
        number = 0

        async def once() -> _Attempt:
            nonlocal number
            number += 1
            try:
                endpoint.breaker.before_call()
            except BreakerOpen as exc:
                raise ModelCircuitOpen(exc.retry_in_s) from exc  # not called: costs nothing, not recorded
            stack = AsyncExitStack()
            try:
                response = await stack.enter_async_context(
                    endpoint.client.stream(self._messages, self._tools, self._deadline_at, max_tokens=self._max_tokens)
                )
                deltas = aiter(response)
                first = await anext(deltas, None)
            except BaseException as exc:
                await stack.__aexit__(type(exc), exc, exc.__traceback__)
                if isinstance(exc, PlatformError):
                    _record(endpoint, exc)
                    self._failed(endpoint, role, number, exc)
                raise
            return _Attempt(stack, response, deltas, first, number)

        def retryable(exc: BaseException) -> bool:
            # Not an open breaker: it would refuse again at once.
            if not isinstance(exc, PlatformError) or isinstance(exc, ModelCircuitOpen):
                return False
            return exc.code in RETRYABLE

        def on_retry(exc: BaseException, delay: float) -> None:
            code = exc.code.value if isinstance(exc, PlatformError) else type(exc).__name__
            metrics.MODEL_RETRIES.labels(model, code).inc()
            log.warning("retrying the model call", extra={"error_code": code, "wait_s": round(delay, 2)})

        # A 429's `Retry-After` is its `retry_after` detail, which the policy honours.
        return await self._retry.call(once, retryable=retryable, deadline_at=self._deadline_at, on_retry=on_retry)


@dataclass
class _Attempt:
    """An endpoint's stream that got as far as its first text (`first`; None: it ended without any)."""

    stack: AsyncExitStack
    response: ModelStream
    deltas: AsyncIterator[TextDelta]
    first: TextDelta | None
    number: int  # the endpoint's attempt number in this step


def _record(endpoint: Endpoint, failure: PlatformError | None) -> None:
    """The call's outcome, for the endpoint's breaker and the metrics."""
    model = endpoint.client.model
    if failure is None:
        endpoint.breaker.record_success()
        metrics.MODEL_CALLS.labels(model, "ok").inc()
        return
    if failure.code in BREAKER_FAILURES:
        endpoint.breaker.record_failure()
    elif failure.code not in BUSY or endpoint.breaker.state is BreakerState.HALF_OPEN:
        # The endpoint answered; the request was the problem. Busy says nothing of whether it works,
        # so it neither dilutes failures nor counts as a success, except that a half-open trial
        # that got an answer shows the endpoint is back (and must end, to free its trial slot).
        endpoint.breaker.record_success()
    metrics.MODEL_CALLS.labels(model, failure.code.value).inc()


def _breaker(role: str, resilience: ModelResilienceSettings) -> CircuitBreaker:
    return CircuitBreaker(f"model:{role}", resilience.breaker(), metric_label=f"model:{role}")
