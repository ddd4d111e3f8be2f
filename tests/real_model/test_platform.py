"""The whole embedded platform on llama.cpp's server, as a client meets it: a streamed
answer and a JSON one with the usage counted and the model's own name, a page fetched
with `http_get` because the model asked for it, and a server killed mid-answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, TokenEvent, ToolEndEvent, ToolStartEvent, parse_run_event
from tests.e2e.sse import stream_chat
from tests.real_model.conftest import real_model_env
from tests.support.platform import Platform, embedded_platform
from tests.support.services import ModelServer, start_model_server


async def test_a_streamed_answer_ends_with_the_servers_model_and_the_usage(
    on_real_model: Platform, model_server: ModelServer
) -> None:
    events = await stream_chat(on_real_model.base_url, {"message": "Say hello."})
    parsed = [parse_run_event(e.data) for e in events]

    *tokens, done = parsed
    assert tokens and all(isinstance(t, TokenEvent) for t in tokens)
    assert isinstance(done, DoneEvent)
    assert done.answer == "".join(t.text for t in tokens if isinstance(t, TokenEvent)) != ""
    assert done.model == model_server.model
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0


async def test_the_json_answer_carries_the_servers_model_and_the_usage(
    on_real_model: Platform, model_server: ModelServer
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{on_real_model.base_url}/api/chat", json={"message": "Say hello."})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].strip()
    assert body["model"] == model_server.model
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0


async def test_the_model_asks_for_a_page_and_the_run_goes_on_with_what_the_tool_said(
    on_real_model: Platform, model_server: ModelServer, pages_url: str
) -> None:
    events = await stream_chat(on_real_model.base_url, {"message": f"What is on {pages_url}/page?"}, read_timeout_s=90)
    parsed = [parse_run_event(e.data) for e in events]

    start = next(p for p in parsed if isinstance(p, ToolStartEvent))
    assert start.tool == "http_get" and isinstance(start.arguments.get("url"), str)
    end = next(p for p in parsed if isinstance(p, ToolEndEvent))
    assert end.call_id == start.call_id
    # The tool's outcome went back to the server in the next step (an assistant turn whose
    # content is null, then the tool's message), and the run ended there.
    done = parsed[-1]
    assert isinstance(done, DoneEvent), done
    assert [record.call_id for record in done.tool_calls] == [start.call_id]
    assert done.model == model_server.model


@pytest.fixture
def doomed_server(tmp_path: Path) -> Iterator[ModelServer]:
    """A server of this test's own, to be killed."""
    server = start_model_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def test_a_server_killed_mid_answer_ends_the_run_interrupted_and_partial_with_a_fallback(
    doomed_server: ModelServer, tmp_path: Path
) -> None:
    with embedded_platform(real_model_env(doomed_server, tmp_path)) as platform:
        events: list[object] = []
        async with (
            httpx.AsyncClient(timeout=60) as client,
            aconnect_sse(
                client,
                "POST",
                f"{platform.base_url}/api/chat/stream",
                json={"message": "Tell me a long story about a dragon."},
            ) as source,
        ):
            async for event in source.aiter_sse():
                if not event.data:
                    continue
                parsed = parse_run_event(event.data)
                events.append(parsed)
                if len(events) == 1:  # the answer has begun: the server dies mid-answer
                    doomed_server.kill()

    assert isinstance(events[0], TokenEvent)
    error = events[-1]
    assert isinstance(error, ErrorEvent), error
    assert error.error.code is ErrorCode.MODEL_STREAM_INTERRUPTED
    assert error.partial is True
    assert error.fallback  # what the user is told, in their language, after the part they saw
