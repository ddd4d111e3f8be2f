"""One code path to the model: OpenAI's chat-completions wire protocol (`model_http.py`).

`ModelClient.stream` returns the answer as a stream the caller iterates (text
deltas as they arrive), assembling tool calls from their fragments on the way,
and turns every failure into a classified `PlatformError` of class `model`.
There are no retries here: retrying is the resilience layer's decision, never two
loops. Each call is one `chat {model}` span with the GenAI semantic-convention
attributes (never the conversation's text).

Each chunk comes as decoded JSON and is read through `model_chunks` in one pass of
pydantic-core; the HTTP is aiohttp's (its C parser reads a token's chunk at a
fraction of the cost of httpx's pure-Python stack: docs/benchmarks.md).

Timeouts bound each read of the provider's stream, never the caller's code
between reads: the first-token timeout the request and the first chunk, the
total timeout and the run's deadline every read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import Usage
from agent_common.settings import ModelSettings
from agent_common.stream_deadline import StreamDeadline
from agent_common.tracing import tracer
from agent_orchestrator.context_window import fit_to_window, reported_window
from agent_orchestrator.conversation import ChatMessage, ToolDefinition
from agent_orchestrator.model_chunks import StreamChunk
from agent_orchestrator.model_errors import (
    classified,
    classified_after_first_chunk,
    interrupted,
    no_first_token,
    too_slow,
)
from agent_orchestrator.model_http import ModelEndpoint, ModelUnreachable
from agent_orchestrator.model_stream import ModelTurn, StreamNotRead, TextDelta, ToolCallRequest

# How long an idle connection to the model is kept for the next call: under the 5 s that
# uvicorn-served models keep theirs.
KEEPALIVE_S = 4.0


class ModelClient:
    def __init__(self, settings: ModelSettings) -> None:
        self._settings = settings
        # Idle connections go a second before the 5 s that uvicorn-served models (vLLM, the offline
        # model) keep theirs: a call must not pick a connection the server is closing that instant.
        self._client = ModelEndpoint(settings.base_url, settings.api_key.get_secret_value(), keepalive_s=KEEPALIVE_S)
        self._window = settings.context_window
        self._window_asked = settings.context_window is not None

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

    @property
    def max_output_tokens(self) -> int | None:
        return self._settings.max_output_tokens

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> bool:
        """The readiness check: the endpoint answers its model list."""
        await self._client.get_json("models", timeout_s=2.0)
        return True

    @asynccontextmanager
    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        deadline_at: float,
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[ProviderStream]:
        """Call the model once, streaming. Bounded by the first-token timeout,
        the total timeout and the run's deadline, whichever comes first."""
        with tracer.start_as_current_span(
            f"chat {self._settings.name}", kind=SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            try:
                total_s = min(self._settings.total_timeout_s, deadline_at - time.time())
                if total_s <= 0:
                    raise PlatformError(
                        ErrorCode.MODEL_TIMEOUT, "The run's deadline passed before the model was called."
                    )
                messages, max_tokens = await self._fitted(messages, tools, max_tokens)
                now = asyncio.get_running_loop().time()
                bounds = _Bounds(first_chunk_by=now + self._settings.first_token_timeout_s, total_by=now + total_s)
                started = time.perf_counter()
                with classified(self._settings.name):
                    async with bounds.first_chunk():
                        chunks = await self._client.stream_chat(self._body(messages, tools, max_tokens))
                async with chunks:  # closes the HTTP response however this ends
                    response = ProviderStream(self._settings.name, aiter(chunks), bounds, started)
                    yield response
            except PlatformError as exc:
                span.set_attribute("error.type", exc.info.code.value)
                raise
            if response.complete:
                turn = response.turn()
                span.set_attributes(
                    {
                        "gen_ai.response.model": turn.model,
                        "gen_ai.response.finish_reasons": [turn.finish_reason or ""],
                        "gen_ai.usage.input_tokens": turn.usage.prompt_tokens,
                        "gen_ai.usage.output_tokens": turn.usage.completion_tokens,
                    }
                )

    async def _fitted(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition], max_tokens: int | None
    ) -> tuple[list[ChatMessage], int | None]:
        """`messages` trimmed to the model's context window once it is known (`context_window.py`),
        and the output cap to send: never more than the room the window leaves after the prompt."""
        if not self._window_asked:
            try:
                self._window = await reported_window(self._client, self._settings.base_url, self._settings.name)
                self._window_asked = True
            except ModelUnreachable:
                pass  # not reachable now: asked again at the next call, which will say why it failed
        if self._window is None:
            return list(messages), max_tokens
        return fit_to_window(messages, tools, self._window, max_tokens)

    def _body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition], max_tokens: int | None
    ) -> dict[str, Any]:
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
        if max_tokens is not None:
            # `max_tokens`, not `max_completion_tokens`: the one every OpenAI-compatible server reads.
            body["max_tokens"] = max_tokens
        return body


@dataclass(frozen=True)
class _Bounds:
    """When the first chunk and the whole answer are due (event-loop time)."""

    first_chunk_by: float
    total_by: float

    @asynccontextmanager
    async def first_chunk(self) -> AsyncIterator[None]:
        """The request and the first chunk: a server that never sends its headers is as stuck
        as one that never streams."""
        try:
            async with asyncio.timeout_at(min(self.first_chunk_by, self.total_by)):
                yield
        except TimeoutError as exc:
            raise (no_first_token() if self.first_chunk_by <= self.total_by else too_slow()) from exc


@dataclass
class _ToolCallFragments:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ProviderStream:
    """One streamed model call: iterate it for the text as it comes; it assembles the
    turn (text, tool calls from their fragments, usage, finish reason) on the way."""

    def __init__(self, model: str, chunks: AsyncIterator[object], bounds: _Bounds, started: float) -> None:
        self._chunks = chunks
        self._bounds = bounds
        self._started = started
        self._turn = ModelTurn(model=model)
        self._text: list[str] = []
        self._fragments: dict[int, _ToolCallFragments] = {}
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[TextDelta]:
        try:
            with classified(self._turn.model):
                async with self._bounds.first_chunk():
                    first = await anext(self._chunks)
        except StopAsyncIteration:
            raise PlatformError(ErrorCode.MODEL_BAD_RESPONSE, "The model sent an empty stream.") from None
        self._turn.time_to_first_token_s = time.perf_counter() - self._started
        for delta in self._add(_read(first)):
            yield delta
        # The total bound: one timer for the stream, not a timeout per chunk (`stream_deadline.py`).
        with StreamDeadline(self._bounds.total_by) as deadline:
            while True:
                try:
                    with classified_after_first_chunk(self._turn.model):
                        chunk = await deadline.read(self._chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise too_slow() from exc
                for delta in self._add(_read(chunk)):
                    yield delta
        self._finish()

    def turn(self) -> ModelTurn:
        if not self.complete:
            raise StreamNotRead("the model's stream was not read to its end")
        return self._turn

    def _add(self, chunk: StreamChunk) -> list[TextDelta]:
        if chunk.model:
            self._turn.model = chunk.model
        if chunk.usage is not None:
            self._turn.usage = Usage(
                prompt_tokens=chunk.usage.prompt_tokens,
                completion_tokens=chunk.usage.completion_tokens,
                total_tokens=chunk.usage.total_tokens,
            )
            self._turn.usage_reported = True
        deltas: list[TextDelta] = []
        for choice in chunk.choices:
            if choice.delta.content:
                self._text.append(choice.delta.content)
                deltas.append(TextDelta(choice.delta.content))
            for call in choice.delta.tool_calls or []:
                fragment = self._fragments.setdefault(call.index, _ToolCallFragments())
                fragment.call_id = call.id or fragment.call_id
                if call.function is not None:
                    fragment.name = call.function.name or fragment.name
                    if call.function.arguments:
                        fragment.arguments.append(call.function.arguments)
            if choice.finish_reason:
                self._turn.finish_reason = choice.finish_reason
        return deltas

    def _finish(self) -> None:
        if self._turn.finish_reason is None:  # the stream ended without saying why: cut short
            raise interrupted()
        self._turn.text = "".join(self._text)
        self._turn.tool_calls = [
            ToolCallRequest(call_id=f.call_id, name=f.name, arguments_json="".join(f.arguments))
            for _, f in sorted(self._fragments.items())
        ]
        self.complete = True


def _read(data: object) -> StreamChunk:
    try:
        return StreamChunk.model_validate(data)
    except ValidationError as exc:
        # Which field, never its value: a chunk carries the answer's text.
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "chunk"
        raise PlatformError(
            ErrorCode.MODEL_BAD_RESPONSE, "The model sent a chunk the platform cannot read.", field=where
        ) from None
