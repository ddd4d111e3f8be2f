"""The model client against OpenAI-compatible servers that stream what real ones do:
fields of their own, fields left out, finish reasons of their own, and now and
then a chunk that is not a chunk at all. Served over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import TokenEvent
from agent_common.settings import ModelSettings
from agent_orchestrator.model_client import ModelClient
from tests.support.web import serve_in_thread

# What the provider streams for each scenario, chunk by chunk (`None`: the `[DONE]` line).
SCENARIOS: dict[str, list[Any]] = {
    # A provider of its own kind: no `model`, a `system_fingerprint` and `logprobs` the
    # platform never reads, tool-call fragments split mid-argument, its own finish reason,
    # and usage in a last chunk without choices.
    "lenient": [
        {"id": "x", "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None}]},
        {"choices": [{"index": 0, "delta": {"content": "안녕하세요, "}}], "system_fingerprint": "fp_1"},
        {"choices": [{"index": 0, "delta": {"content": "hello."}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "http_get"}}
                        ]
                    },
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"url": '}}]}}]},
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"https://a.example"}'}}]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "eos"}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}},
        None,
    ],
    # `choices` is not a list: nothing of it can be trusted.
    "malformed": [
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "first "}}]},
        {"model": "m", "choices": "the secret word is pineapple"},
        None,
    ],
    # Lone surrogates escaped into valid JSON, in the text and a tool call's arguments; a pair stays a pair.
    "surrogates": [
        '{"choices": [{"index": 0, "delta": {"content": "a\\ud800b \\ud83d\\ude00"}}]}',
        '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": '
        '{"name": "http_get", "arguments": "{\\"url\\": \\"https://a.example/\\udfff\\"}"}}]}}]}',
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        None,
    ],
    # An error object in the middle of the stream.
    "error": [
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "first "}}]},
        {"error": {"message": "overloaded", "type": "server_error"}},
        None,
    ],
}


async def completions(request: Request) -> StreamingResponse:
    body = await request.json()
    scenario = SCENARIOS[body["model"]]

    async def lines() -> AsyncIterator[bytes]:
        for chunk in scenario:
            data = (
                "[DONE]"
                if chunk is None
                else chunk
                if isinstance(chunk, str)
                else json.dumps(chunk, ensure_ascii=False)
            )
            yield f"data: {data}\n\n".encode()

    return StreamingResponse(lines(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    with serve_in_thread(app) as url:
        yield f"{url}/v1"


async def _turn(provider: str, scenario: str) -> tuple[Any, list[str]]:
    client = ModelClient(ModelSettings(base_url=provider, name=scenario))
    tokens: list[str] = []
    try:
        async with client.stream([{"role": "user", "content": "hi"}], [], time.time() + 30) as response:
            async for delta in response:
                tokens.append(delta.text)
        return response.turn(), tokens
    finally:
        await client.close()


async def test_a_provider_of_its_own_kind_is_read_whole(provider: str) -> None:
    turn, tokens = await _turn(provider, "lenient")
    assert tokens == ["안녕하세요, ", "hello."]
    assert turn.text == "안녕하세요, hello."
    assert [(c.call_id, c.name, json.loads(c.arguments_json)) for c in turn.tool_calls] == [
        ("call_1", "http_get", {"url": "https://a.example"})
    ]
    assert turn.finish_reason == "eos"
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens, turn.usage.total_tokens) == (12, 5, 17)
    assert turn.model == "lenient"  # the provider named none: the one asked for


async def test_lone_surrogates_from_the_model_become_replacement_characters_and_the_turn_can_be_written(
    provider: str,
) -> None:
    turn, tokens = await _turn(provider, "surrogates")
    assert tokens == ["a\ufffdb 😀"]
    assert json.loads(turn.tool_calls[0].arguments_json) == {"url": "https://a.example/\ufffd"}
    TokenEvent(request_id="r", text=turn.text).model_dump_json()  # would raise on a lone surrogate


async def test_a_chunk_of_the_wrong_shape_is_a_bad_response_that_names_the_field_not_the_text(provider: str) -> None:
    with pytest.raises(PlatformError) as caught:
        await _turn(provider, "malformed")
    assert caught.value.code is ErrorCode.MODEL_BAD_RESPONSE
    assert caught.value.info.details["field"] == "choices"
    assert "pineapple" not in json.dumps(caught.value.info.model_dump(mode="json"))


async def test_an_error_in_the_middle_of_the_stream_is_an_interrupted_answer(provider: str) -> None:
    with pytest.raises(PlatformError) as caught:
        await _turn(provider, "error")
    assert caught.value.code is ErrorCode.MODEL_STREAM_INTERRUPTED
