"""The offline model under uvicorn on a loopback port, and `openai` SDK clients for it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import openai
import pytest
import uvicorn
from openai import AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from agent_offline_model import OfflineModelSettings, create_app

HTTP_GET_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "http_get",
        "description": "Fetch a web page by URL and return its text.",
        "parameters": {
            "type": "object",
            "properties": {"url": {"type": "string"}},
            "required": ["url"],
            "additionalProperties": False,
        },
    },
}


def offline_settings(**overrides: Any) -> OfflineModelSettings:
    """Settings that ignore any OFFLINE_MODEL_* in the environment: no key, no delays."""
    values: dict[str, Any] = {"api_key": None, "name": "offline-1", "first_token_delay_ms": 0, "token_delay_ms": 0}
    return OfflineModelSettings(**(values | overrides))


@dataclass
class Served:
    url: str
    """`http://127.0.0.1:<port>`, without a trailing slash."""
    server: uvicorn.Server
    app: Any


@contextmanager
def serve(app: Any) -> Iterator[Served]:
    """Serve `app` on an ephemeral loopback port from a thread with its own event loop."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the offline model did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", server, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "the offline model did not shut down"


def sdk_client(base_url: str, api_key: str = "x", **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=10.0, **kwargs)


# The SDK's overloads want its TypedDicts; the tests build plain dicts, as the orchestrator does.


async def complete(client: openai.AsyncOpenAI, messages: Sequence[Mapping[str, Any]], **options: Any) -> ChatCompletion:
    """One non-streamed completion."""
    params: dict[str, Any] = {"model": "offline-1", "messages": list(messages), **options}
    return cast(ChatCompletion, await client.chat.completions.create(**params))


async def open_stream(
    client: openai.AsyncOpenAI, messages: Sequence[Mapping[str, Any]], **options: Any
) -> AsyncStream[ChatCompletionChunk]:
    """A streamed completion, not yet read."""
    params: dict[str, Any] = {"model": "offline-1", "messages": list(messages), "stream": True, **options}
    return cast(AsyncStream[ChatCompletionChunk], await client.chat.completions.create(**params))


async def stream_all(
    client: openai.AsyncOpenAI, messages: Sequence[Mapping[str, Any]], **options: Any
) -> list[ChatCompletionChunk]:
    """Every chunk of a streamed completion."""
    return [chunk async for chunk in await open_stream(client, messages, **options)]


def streamed_text(chunks: Sequence[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve(create_app(offline_settings())) as handle:
        yield handle


@pytest.fixture
def model_url(served: Served) -> Iterator[str]:
    """The `/v1` base URL; queued faults are cleared after each test."""
    yield f"{served.url}/v1"
    served.app.state.faults.clear()


@pytest.fixture
async def client(model_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = sdk_client(model_url)
    yield sdk
    await sdk.close()
