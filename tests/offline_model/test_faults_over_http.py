"""Each fault kind, injected by directive and through the admin API, as the `openai` SDK sees it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.offline_model.conftest import Served, complete, open_stream, stream_all

HELLO = [{"role": "user", "content": "hello there"}]


def directive(kind: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"please fail [[offline:{kind}]] now, with enough words to stream"}]


def admin(model_url: str) -> str:
    return model_url.removesuffix("/v1") + "/admin/faults"


async def test_rate_limit_is_a_429_with_retry_after(client: openai.AsyncOpenAI) -> None:
    for call in (complete, stream_all):
        with pytest.raises(openai.RateLimitError) as caught:
            await call(client, directive("rate_limit"))
        error = caught.value
        assert error.status_code == 429 and error.response.headers["retry-after"] == "1"
        assert (error.type, error.code) == ("rate_limit_error", "rate_limit_exceeded")


async def test_server_error_is_a_500(client: openai.AsyncOpenAI) -> None:
    for call in (complete, stream_all):
        with pytest.raises(openai.InternalServerError) as caught:
            await call(client, directive("server_error"))
        assert caught.value.status_code == 500 and caught.value.type == "server_error"


async def test_stall_holds_the_request_until_the_client_times_out(served: Served, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        await open_stream(client, directive("stall"), timeout=0.3)
    # The stalled handler notices the client went away instead of sleeping its 30 s
    # (a server task ending has nothing to await: poll, bounded).
    deadline = time.monotonic() + 5
    while served.server.server_state.tasks and time.monotonic() < deadline:  # noqa: ASYNC110 (another thread)
        await asyncio.sleep(0.01)
    assert not served.server.server_state.tasks


async def test_drop_mid_stream_sends_half_the_answer_then_cuts_the_connection(client: openai.AsyncOpenAI) -> None:
    stream = await open_stream(client, directive("drop_mid_stream"))
    received: list[ChatCompletionChunk] = []

    # This SDK wraps the broken chunked body (its HTTP library's RemoteProtocolError) as a connection error.
    async def read_all() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(openai.APIConnectionError) as caught:
        await read_all()
    assert type(caught.value.__cause__).__name__ == "RemoteProtocolError"
    assert received, "part of the answer arrives before the drop"
    assert all(c.choices[0].finish_reason is None for c in received)
    text = "".join(c.choices[0].delta.content or "" for c in received)
    assert text.startswith("(offline model) You said:") and not text.endswith("conversation.")


async def test_drop_mid_stream_without_streaming_cuts_the_json_body(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIConnectionError) as caught:
        await complete(client, directive("drop_mid_stream"))
    # The SDK (3.x) sends through `httpx2`, so the cause is httpx2's RemoteProtocolError, not httpx's.
    assert type(caught.value.__cause__).__name__ == "RemoteProtocolError"
    assert "complete message body" in str(caught.value.__cause__)


async def test_admin_faults_apply_to_the_next_count_requests(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        queued = await http.post(admin(model_url), json={"kind": "rate_limit", "count": 2, "retry_after_s": 7})
        assert queued.status_code == 201
        await http.post(admin(model_url), json={"kind": "server_error"})
        listed = (await http.get(admin(model_url))).json()["faults"]
        assert [(f["kind"], f["remaining"]) for f in listed] == [("rate_limit", 2), ("server_error", 1)]

        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as caught:
                await complete(client, HELLO)
            assert caught.value.response.headers["retry-after"] == "7"
        with pytest.raises(openai.InternalServerError):
            await stream_all(client, HELLO)
        assert (await http.get(admin(model_url))).json() == {"faults": []}
        assert (await complete(client, HELLO)).choices[0].finish_reason == "stop"


async def test_a_directive_wins_and_leaves_the_queue_alone(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(admin(model_url), json={"kind": "server_error"})
        with pytest.raises(openai.RateLimitError):
            await complete(client, directive("rate_limit"))
        assert [f["kind"] for f in (await http.get(admin(model_url))).json()["faults"]] == ["server_error"]


async def test_admin_delete_clears_and_bad_specs_are_400(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(admin(model_url), json={"kind": "server_error", "count": 3})
        cleared = await http.delete(admin(model_url))
        assert cleared.json() == {"cleared": 3, "faults": []}
        bad = await http.post(admin(model_url), json={"kind": "explode"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "kind"
        not_json = await http.post(admin(model_url), content=b"nope")
        assert not_json.status_code == 400
    assert (await complete(client, HELLO)).choices[0].finish_reason == "stop"


async def test_an_admin_stall_with_a_short_delay_answers_after_it(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(admin(model_url), json={"kind": "stall", "delay_ms": 200})
    started = time.perf_counter()
    response = await complete(client, HELLO)
    assert time.perf_counter() - started >= 0.19
    assert response.choices[0].message.content is not None


async def test_slow_spaces_the_tokens_out(model_url: str, client: openai.AsyncOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(admin(model_url), json={"kind": "slow", "delay_ms": 30})
    started = time.perf_counter()
    arrivals = []
    async for chunk in await open_stream(client, HELLO):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
    # A lower bound a busy machine cannot break (it only delays chunks, and may bunch them up):
    # the last token cannot arrive before the server has waited 30 ms between each two.
    assert len(arrivals) >= 11 and arrivals[-1] - started >= (len(arrivals) - 1) * 0.030
