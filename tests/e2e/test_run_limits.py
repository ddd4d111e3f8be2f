"""A run's limits as a client meets them in the embedded default: an answer cut off at the output
cap says so (SSE `done`, the JSON answer, the stored session), and a client that hangs up and
does not come back stops the model, after the resume window and not at the disconnect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.e2e.conftest import platform_env
from tests.e2e.sse import stream_chat
from tests.support.platform import Platform, embedded_platform

RESUME_WINDOW_S = 1.0
SLOW_TOKEN_MS = 150
ANSWER_TOKENS = 49  # the offline model's answer to the hang-up tests' message (it quotes 200 characters)


@pytest.fixture(scope="module")
def capped(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = {**platform_env(pages_url, tmp_path_factory.mktemp("capped") / "keys.json"), "MODEL_MAX_OUTPUT_TOKENS": "3"}
    with embedded_platform(env) as platform:
        yield platform


@pytest.fixture(scope="module")
def windowed(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = {
        **platform_env(pages_url, tmp_path_factory.mktemp("windowed") / "keys.json"),
        "ORCHESTRATOR_RESUME_WINDOW_S": str(RESUME_WINDOW_S),
    }
    with embedded_platform(env) as platform:
        yield platform


async def test_an_answer_cut_off_at_the_output_cap_says_so_in_json_sse_and_the_session(capped: Platform) -> None:
    async with httpx.AsyncClient(base_url=capped.base_url, timeout=30) as client:
        answer = (await client.post("/api/chat", json={"message": "hello there"})).json()
        assert (answer["finish_reason"], answer["answer"]) == ("length", "(offline model) You ")
        assert answer["note"] == "The answer was cut off at the output limit and is incomplete."
        session = (await client.get(f"/api/sessions/{answer['session_id']}")).json()
        assert session["turns"][0]["finish_reason"] == "length"

    events = await stream_chat(capped.base_url, {"message": "안녕하세요 반갑습니다"})
    done = json.loads(events[-1].data)
    assert events[-1].event == "done" and done["finish_reason"] == "length"
    assert done["note"] == "답변이 출력 한도에서 잘려 완전하지 않습니다."


async def test_a_whole_answer_says_stop(windowed: Platform) -> None:
    events = await stream_chat(windowed.base_url, {"message": "hello there"})
    assert json.loads(events[-1].data)["finish_reason"] == "stop"


async def test_a_client_that_hangs_up_stops_the_model_after_the_resume_window(windowed: Platform) -> None:
    async with httpx.AsyncClient(base_url=windowed.base_url, timeout=30) as client:
        slow = await client.post("/offline/admin/faults", json={"kind": "slow", "delay_ms": SLOW_TOKEN_MS})
        assert slow.status_code == 201
        before = (await client.get("/offline/admin/stats")).json()["tokens_served"]
        # Its answer quotes the message: some 50 tokens at 150 ms, about 7 s of generating, far past the window.
        body = {"message": "please repeat all of this " * 40}
        async with aconnect_sse(client, "POST", "/api/chat/stream", json=body) as source:
            request_id = source.response.headers["x-request-id"]
            async for event in source.aiter_sse():
                if event.event == "token":
                    break  # the client goes, mid-answer
        await asyncio.sleep(RESUME_WINDOW_S / 2)
        # Still going within the window: a client that came back now would get the rest.
        during = (await client.get("/offline/admin/stats")).json()["tokens_served"]
        await asyncio.sleep(RESUME_WINDOW_S + 0.5)
        stopped = (await client.get("/offline/admin/stats")).json()["tokens_served"]
        await asyncio.sleep(0.5)
        later = (await client.get("/offline/admin/stats")).json()["tokens_served"]
        # A late reconnect finds the run's classified ending in the replay buffer.
        async with aconnect_sse(client, "GET", f"/api/chat/stream/{request_id}") as source:
            replayed = [e async for e in source.aiter_sse() if e.data]
    assert during > before + 1
    assert later == stopped < before + ANSWER_TOKENS - 15  # the model stopped, well before the whole answer
    ending = json.loads(replayed[-1].data)
    assert replayed[-1].event == "error" and ending["error"]["code"] == "RUN_ABANDONED"
    assert ending["partial"] is True and ending["fallback"]


async def test_a_json_client_that_hangs_up_stops_the_model_after_the_resume_window(windowed: Platform) -> None:
    async with httpx.AsyncClient(base_url=windowed.base_url, timeout=30) as client:
        slow = await client.post("/offline/admin/faults", json={"kind": "slow", "delay_ms": SLOW_TOKEN_MS})
        assert slow.status_code == 201
        before = (await client.get("/offline/admin/stats")).json()["tokens_served"]
    # A client of /api/chat waits for the whole answer and writes nothing meanwhile: it hangs up
    # (its timeout) well before the answer's 7 s of generating are over.
    async with httpx.AsyncClient(base_url=windowed.base_url, timeout=0.5) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post("/api/chat", json={"message": "please repeat all of this " * 40})
    async with httpx.AsyncClient(base_url=windowed.base_url, timeout=30) as client:
        await asyncio.sleep(RESUME_WINDOW_S + 1.0)
        stopped = (await client.get("/offline/admin/stats")).json()["tokens_served"]
        await asyncio.sleep(0.5)
        later = (await client.get("/offline/admin/stats")).json()["tokens_served"]
    assert later == stopped < before + ANSWER_TOKENS - 15  # the model stopped, well before the whole answer
