"""The wire protocol over real HTTP, as the `openai` SDK sees it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from agent_offline_model import create_app
from tests.offline_model.conftest import (
    HTTP_GET_TOOL,
    complete,
    offline_settings,
    open_stream,
    sdk_client,
    serve,
    stream_all,
    streamed_text,
)

HELLO = [{"role": "user", "content": "hello there"}]
HELLO_ANSWER = '(offline model) You said: "hello there". This is turn 1 of our conversation.'


async def test_health_and_models(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(model_url.removesuffix("/v1") + "/health")
        ready = await http.get(model_url.removesuffix("/v1") + "/ready")
    assert health.status_code == 200 and health.json() == {"status": "ok", "model": "offline-1", "offline": True}
    assert ready.status_code == 200
    models = await client.models.list()
    assert [m.id for m in models.data] == ["offline-1"]
    assert (await client.models.retrieve("offline-1")).owned_by == "offline"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-4o")


async def test_a_plain_answer(client: openai.AsyncOpenAI) -> None:
    response = await complete(client, HELLO)
    assert response.object == "chat.completion" and response.model == "offline-1"
    choice = response.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", HELLO_ANSWER, "stop")
    assert choice.message.tool_calls is None
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (2, 13, 15)


async def test_streamed_tokens_join_to_the_same_answer_and_end_with_usage(client: openai.AsyncOpenAI) -> None:
    chunks = await stream_all(client, HELLO, stream_options={"include_usage": True})
    *answer, finish, last = chunks
    assert answer[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in answer[1:])
    assert streamed_text(chunks) == HELLO_ANSWER
    assert all(c.choices[0].finish_reason is None and c.usage is None for c in answer)
    assert finish.choices[0].finish_reason == "stop" and not finish.choices[0].delta.content
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (2, len(answer))
    assert len({c.id for c in chunks}) == 1 and {c.object for c in chunks} == {"chat.completion.chunk"}


async def test_without_include_usage_there_is_no_usage_chunk(client: openai.AsyncOpenAI) -> None:
    chunks = await stream_all(client, HELLO)
    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_the_raw_stream_is_openai_sse_ending_with_done(model_url: str) -> None:
    body = {"model": "offline-1", "messages": HELLO, "stream": True}
    async with httpx.AsyncClient() as http, http.stream("POST", f"{model_url}/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = (await response.aread()).decode()
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])
    assert json.loads(events[0].removeprefix("data: "))["choices"][0]["delta"]["role"] == "assistant"


async def test_korean_in_korean(client: openai.AsyncOpenAI) -> None:
    chunks = await stream_all(client, [{"role": "user", "content": "안녕하세요, 반가워요"}])
    assert streamed_text(chunks) == (
        '(오프라인 모델) "안녕하세요, 반가워요"(이)라고 말씀하셨어요. 이번이 대화의 1번째 차례입니다.'
    )


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: openai.AsyncOpenAI) -> None:
    response = await complete(client, HELLO, max_tokens=3)
    assert response.choices[0].finish_reason == "length"
    assert response.choices[0].message.content == "(offline model) You "


def assemble_tool_calls(chunks: list[ChatCompletionChunk]) -> list[dict[str, str]]:
    """Tool calls from their streamed fragments, the way an OpenAI client does it."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                if tc.function:
                    call["name"] = tc.function.name or call["name"]
                    call["arguments"] += tc.function.arguments or ""
    return [calls[i] for i in sorted(calls)]


def as_tool_call(call: dict[str, str]) -> dict[str, Any]:
    """An assembled call, as the assistant message that sends the results back carries it."""
    return {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}


async def test_a_tool_call_round_trip(client: openai.AsyncOpenAI) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Use http_get for URLs."},
        {"role": "user", "content": "Summarise http://docs.test/a and http://blocked.test/x, please."},
    ]
    chunks = await stream_all(client, messages, tools=[HTTP_GET_TOOL], stream_options={"include_usage": True})
    assert streamed_text(chunks) == ""
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.tool_calls is not None and first.tool_calls[0].id
    calls = assemble_tool_calls(chunks)
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("http_get", {"url": "http://docs.test/a"}),
        ("http_get", {"url": "http://blocked.test/x"}),
    ]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    page = {
        "ok": True,
        "url": "http://docs.test/a",
        "status": 200,
        "content_type": "text/html",
        "text": "Kafka keeps order per partition.",
        "truncated": False,
    }
    refused = {
        "ok": False,
        "url": "http://blocked.test/x",
        "error": {"class": "tool", "code": "TOOL_URL_NOT_ALLOWED", "message": "The host blocked.test is not allowed."},
    }
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [as_tool_call(c) for c in calls]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": json.dumps(page)},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": json.dumps(refused)},
    ]
    response = await complete(client, messages, tools=[HTTP_GET_TOOL])
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.content == (
        '(offline model) According to http://docs.test/a, the page says: "Kafka keeps order per partition." '
        "I could not fetch http://blocked.test/x: The host blocked.test is not allowed (TOOL_URL_NOT_ALLOWED)."
    )


async def test_non_streamed_tool_calls_parse_in_the_sdk(client: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Read https://example.com/page?"}]
    response = await complete(client, messages, tools=[HTTP_GET_TOOL])
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "http_get"
    assert json.loads(call.function.arguments) == {"url": "https://example.com/page"}


async def test_bad_requests_get_openai_shaped_400s(model_url: str, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await complete(client, [])
    assert caught.value.type == "invalid_request_error" and caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError):
        await complete(client, [{"role": "robot", "content": "x"}])
    async with httpx.AsyncClient() as http:
        not_json = await http.post(
            f"{model_url}/chat/completions", content=b"{", headers={"content-type": "application/json"}
        )
        wrong_method = await http.get(f"{model_url}/chat/completions")
        unknown = await http.get(f"{model_url}/nope")
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    assert unknown.status_code == 404 and "error" in unknown.json()


async def test_configured_delays_pace_the_stream() -> None:
    with serve(create_app(offline_settings(first_token_delay_ms=150, token_delay_ms=20))) as served:
        client = sdk_client(f"{served.url}/v1")
        started = time.perf_counter()
        arrivals = []
        async for chunk in await open_stream(client, HELLO):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.perf_counter() - started)
        await client.close()
    assert arrivals[0] >= 0.14  # the first token waited for first_token_delay_ms
    assert arrivals[-1] - arrivals[0] >= 0.02 * (len(arrivals) - 1) * 0.9


async def test_the_server_counts_the_tokens_it_served(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        before = (await http.get(f"{model_url.removesuffix('/v1')}/admin/stats")).json()["tokens_served"]
        chunks = await stream_all(client, HELLO, max_tokens=3)
        after = (await http.get(f"{model_url.removesuffix('/v1')}/admin/stats")).json()["tokens_served"]
    assert chunks[-1].choices[0].finish_reason == "length"
    assert after - before == 3


async def test_a_stream_whose_client_hangs_up_stops_generating() -> None:
    with serve(create_app(offline_settings(token_delay_ms=50))) as served:
        client = sdk_client(f"{served.url}/v1")
        stream = await open_stream(client, HELLO)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break  # one token read, then the client goes
        await stream.close()
        await asyncio.sleep(1.0)  # twenty tokens' time: one that kept generating would serve the whole answer
        await client.close()
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"{served.url}/admin/stats")).json()
    assert stats["tokens_served"] < len(HELLO_ANSWER.split())
