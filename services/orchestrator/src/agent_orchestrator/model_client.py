"""One code path to the model: the OpenAI wire protocol through the `openai` SDK.

Streams a chat completion, hands each text delta to the caller as it arrives,
assembles tool calls from their fragments, and turns every failure into a
classified `PlatformError` of class `model`. The SDK's own retries are off
(`max_retries=0`): retrying is the resilience layer's decision, never two loops.
Each call is one `chat {model}` span with the GenAI semantic-convention
attributes (never the conversation's text).

The request goes through the SDK's own `post` (auth, base URL, headers, SSE
decoding, its errors), asking for the chunks as decoded JSON: they are read
through `model_chunks`, at a twentieth of the cost of the SDK's chunk objects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import openai
from openai import AsyncOpenAI, AsyncStream
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import Usage
from agent_common.settings import ModelSettings
from agent_common.tracing import tracer
from agent_orchestrator.model_chunks import StreamChunk

OnToken = Callable[[str], Awaitable[None]]


class ChatModel(Protocol):
    """What the agent loop calls: one endpoint (`ModelClient`) or several behind
    retries and breakers (`ResilientModel`)."""

    @property
    def model(self) -> str: ...

    async def stream_turn(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], on_token: OnToken, deadline_at: float
    ) -> ModelTurn: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass
class ToolCallRequest:
    call_id: str
    name: str
    arguments_json: str


@dataclass
class ModelTurn:
    """What one model call produced."""

    text: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    time_to_first_token_s: float | None = None


@dataclass
class _ToolCallFragments:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ModelClient:
    def __init__(self, settings: ModelSettings) -> None:
        self._settings = settings
        self._client = AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value(),
            max_retries=0,
            timeout=settings.total_timeout_s,
        )

        url = httpx.URL(settings.base_url)
        self._span_attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": settings.provider,
            "gen_ai.request.model": settings.name,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }

    @property
    def model(self) -> str:
        return self._settings.name

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> bool:
        """The readiness check: the endpoint answers its model list."""
        await self._client.models.list(timeout=2.0)
        return True

    async def stream_turn(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_token: OnToken,
        deadline_at: float,
    ) -> ModelTurn:
        """Call the model once, streaming. Bounded by the first-token timeout,
        the total timeout and the run's deadline, whichever comes first."""
        with tracer.start_as_current_span(
            f"chat {self._settings.name}", kind=SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            try:
                turn = await self._bounded(self._stream(messages, tools, on_token), deadline_at)
            except PlatformError as exc:
                span.set_attribute("error.type", exc.info.code.value)
                raise
            span.set_attributes(
                {
                    "gen_ai.response.model": turn.model,
                    "gen_ai.response.finish_reasons": [turn.finish_reason or ""],
                    "gen_ai.usage.input_tokens": turn.usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": turn.usage.completion_tokens,
                }
            )
            return turn

    async def _bounded(self, call: Coroutine[Any, Any, ModelTurn], deadline_at: float) -> ModelTurn:
        """`call` within the total timeout and the run's deadline, its failures classified."""
        total_s = min(self._settings.total_timeout_s, deadline_at - time.time())
        if total_s <= 0:
            call.close()
            raise PlatformError(ErrorCode.MODEL_TIMEOUT, "The run's deadline passed before the model was called.")
        try:
            async with asyncio.timeout(total_s):
                return await call
        except TimeoutError as exc:
            raise PlatformError(ErrorCode.MODEL_TIMEOUT, "The model did not finish in time.") from exc
        except openai.RateLimitError as exc:
            retry_after = exc.response.headers.get("retry-after")
            raise PlatformError(
                ErrorCode.MODEL_RATE_LIMITED, "The model is rate-limiting requests.", retry_after=retry_after
            ) from exc
        except openai.APITimeoutError as exc:
            raise PlatformError(ErrorCode.MODEL_TIMEOUT, "The model did not answer in time.") from exc
        except openai.APIConnectionError as exc:
            raise PlatformError(ErrorCode.MODEL_UNAVAILABLE, "The model could not be reached.") from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise PlatformError(
                    ErrorCode.MODEL_UNAVAILABLE, "The model failed to answer.", status=exc.status_code
                ) from exc
            raise PlatformError(
                ErrorCode.MODEL_BAD_RESPONSE, "The model refused the request.", status=exc.status_code
            ) from exc

    async def _stream(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], on_token: OnToken
    ) -> ModelTurn:
        started = time.perf_counter()
        # The first-token timeout covers the request and the first chunk: a server
        # that never sends its headers is as stuck as one that never streams.
        first_chunk_by = asyncio.get_running_loop().time() + self._settings.first_token_timeout_s
        body: dict[str, Any] = {
            "model": self._settings.name,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = list(tools)
        if self._settings.temperature is not None:
            body["temperature"] = self._settings.temperature
        try:
            async with asyncio.timeout_at(first_chunk_by):
                # `object`: the SDK hands each chunk over as decoded JSON, unconstructed.
                stream = await self._client.post(
                    "/chat/completions", cast_to=object, body=body, stream=True, stream_cls=AsyncStream[object]
                )
        except TimeoutError as exc:
            raise _no_first_token() from exc
        async with stream:  # closes the HTTP response however this ends
            chunks = aiter(stream)
            try:
                async with asyncio.timeout_at(first_chunk_by):
                    first = await anext(chunks)
            except StopAsyncIteration:
                raise PlatformError(ErrorCode.MODEL_BAD_RESPONSE, "The model sent an empty stream.") from None
            except TimeoutError as exc:
                raise _no_first_token() from exc
            turn = _TurnBuilder(self._settings.name, time_to_first_token_s=time.perf_counter() - started)
            await turn.add(_read(first), on_token)
            try:
                async for chunk in chunks:
                    await turn.add(_read(chunk), on_token)
            except openai.APIError as exc:
                raise _interrupted() from exc
        return turn.finish()


class _TurnBuilder:
    """Assembles one streamed model call: text as it comes, tool calls from their fragments."""

    def __init__(self, model: str, time_to_first_token_s: float) -> None:
        self._turn = ModelTurn(model=model, time_to_first_token_s=time_to_first_token_s)
        self._text: list[str] = []
        self._fragments: dict[int, _ToolCallFragments] = {}

    async def add(self, chunk: StreamChunk, on_token: OnToken) -> None:
        if chunk.model:
            self._turn.model = chunk.model
        if chunk.usage is not None:
            self._turn.usage = Usage(
                prompt_tokens=chunk.usage.prompt_tokens,
                completion_tokens=chunk.usage.completion_tokens,
                total_tokens=chunk.usage.total_tokens,
            )
        for choice in chunk.choices:
            if choice.delta.content:
                self._text.append(choice.delta.content)
                await on_token(choice.delta.content)
            for call in choice.delta.tool_calls or []:
                fragment = self._fragments.setdefault(call.index, _ToolCallFragments())
                fragment.call_id = call.id or fragment.call_id
                if call.function is not None:
                    fragment.name = call.function.name or fragment.name
                    if call.function.arguments:
                        fragment.arguments.append(call.function.arguments)
            if choice.finish_reason:
                self._turn.finish_reason = choice.finish_reason

    def finish(self) -> ModelTurn:
        if self._turn.finish_reason is None:  # the stream ended without saying why: cut short
            raise _interrupted()
        self._turn.text = "".join(self._text)
        self._turn.tool_calls = [
            ToolCallRequest(call_id=f.call_id, name=f.name, arguments_json="".join(f.arguments))
            for _, f in sorted(self._fragments.items())
        ]
        return self._turn


def _read(data: object) -> StreamChunk:
    try:
        return StreamChunk.model_validate(data)
    except ValidationError as exc:
        # Which field, never its value: a chunk carries the answer's text.
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "chunk"
        raise PlatformError(
            ErrorCode.MODEL_BAD_RESPONSE, "The model sent a chunk the platform cannot read.", field=where
        ) from None


def _no_first_token() -> PlatformError:
    return PlatformError(ErrorCode.MODEL_TIMEOUT, "The model did not start answering in time.")


def _interrupted() -> PlatformError:
    return PlatformError(ErrorCode.MODEL_STREAM_INTERRUPTED, "The model's answer stopped before it was complete.")
