"""One code path to the model: the OpenAI wire protocol through the `openai` SDK.

Streams a chat completion, hands each text delta to the caller as it arrives,
assembles tool calls from their fragments, and turns every failure into a
classified `PlatformError` of class `model`. The SDK's own retries are off
(`max_retries=0`): retrying is the resilience layer's decision, never two loops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import Usage
from agent_common.settings import ModelSettings

OnToken = Callable[[str], Awaitable[None]]


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
        total_s = min(self._settings.total_timeout_s, deadline_at - time.time())
        if total_s <= 0:
            raise PlatformError(ErrorCode.MODEL_TIMEOUT, "The run's deadline passed before the model was called.")
        try:
            async with asyncio.timeout(total_s):
                return await self._stream(messages, tools, on_token)
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
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = list(tools)
        if self._settings.temperature is not None:
            extra["temperature"] = self._settings.temperature
        stream: Any = None
        try:
            turn = ModelTurn(model=self._settings.name)
            fragments: dict[int, _ToolCallFragments] = {}
            text: list[str] = []
            try:
                # The first-token timeout covers the request and the first chunk: a
                # server that never sends its headers is as stuck as one that never streams.
                async with asyncio.timeout(self._settings.first_token_timeout_s):
                    stream = await self._client.chat.completions.create(
                        model=self._settings.name,
                        messages=list(messages),  # type: ignore[arg-type]
                        stream=True,
                        stream_options={"include_usage": True},
                        **extra,
                    )
                    chunks = aiter(stream)
                    first = await anext(chunks)
            except StopAsyncIteration:
                raise PlatformError(ErrorCode.MODEL_BAD_RESPONSE, "The model sent an empty stream.") from None
            except TimeoutError as exc:
                raise PlatformError(ErrorCode.MODEL_TIMEOUT, "The model did not start answering in time.") from exc
            turn.time_to_first_token_s = time.perf_counter() - started
            chunk: Any = first
            while True:
                if chunk.model:
                    turn.model = chunk.model
                if chunk.usage is not None:
                    turn.usage = Usage(
                        prompt_tokens=chunk.usage.prompt_tokens,
                        completion_tokens=chunk.usage.completion_tokens,
                        total_tokens=chunk.usage.total_tokens,
                    )
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        await on_token(delta.content)
                    for tc in delta.tool_calls or []:
                        frag = fragments.setdefault(tc.index, _ToolCallFragments())
                        if tc.id:
                            frag.call_id = tc.id
                        if tc.function and tc.function.name:
                            frag.name = tc.function.name
                        if tc.function and tc.function.arguments:
                            frag.arguments.append(tc.function.arguments)
                    if choice.finish_reason:
                        turn.finish_reason = choice.finish_reason
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except openai.APIError as exc:
                    raise PlatformError(
                        ErrorCode.MODEL_STREAM_INTERRUPTED, "The model's answer stopped before it was complete."
                    ) from exc
            if turn.finish_reason is None:
                raise PlatformError(
                    ErrorCode.MODEL_STREAM_INTERRUPTED, "The model's answer stopped before it was complete."
                )
            turn.text = "".join(text)
            turn.tool_calls = [
                ToolCallRequest(call_id=f.call_id, name=f.name, arguments_json="".join(f.arguments))
                for _, f in sorted(fragments.items())
            ]
            return turn
        finally:
            if stream is not None:
                await stream.close()
