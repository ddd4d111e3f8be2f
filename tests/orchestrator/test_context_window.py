"""The prompt fitted to the model's context window: known from a setting or from the server,
trimmed (oldest turns, then the lowest-ranked passages) before the call, and an honest
`MODEL_CONTEXT_OVERFLOW` when the question alone does not fit."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import Citation, DoneEvent, ErrorEvent, RunEvent
from agent_common.fallback import TOO_LONG
from agent_common.messages import ChatRequested
from agent_common.rag.context import context_message
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_offline_model import OfflineModelSettings
from agent_offline_model.app import create_app as create_offline_model
from agent_offline_model.tokenisation import count_prompt_tokens
from agent_orchestrator.context_window import fit_to_window, reported_window
from agent_orchestrator.conversation import ChatMessage, build_messages
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import OrchestratorSettings
from tests.support.web import free_tcp_port, serve_in_thread

WINDOW = 400  # the offline model's, in its own tokens (words): a small model's context


@pytest.fixture(scope="module")
def small_model_url() -> Iterator[str]:
    """The offline model with a small context window, reported at `/props` as llama.cpp's server does."""
    settings = OfflineModelSettings(api_key=None, context_window=WINDOW, first_token_delay_ms=0, token_delay_ms=0)
    with serve_in_thread(create_offline_model(settings)) as url:
        yield f"{url}/v1"


class Runner:
    def __init__(self, model: ModelClient) -> None:
        self.events = MemoryRunEventChannel()
        self.sessions = MemorySessionStore(max_turns=50, ttl_s=60, max_tokens=20_000)
        store = MemoryRunStore()
        self.loop = AgentLoop(
            bus=MemoryBus(),
            events=self.events,
            sessions=self.sessions,
            saved=SavedRuns(store.states, keep_after_deadline_s=60),
            deadlines=store.deadlines,
            model=model,
            settings=OrchestratorSettings(),
        )

    async def run(self, message: str) -> list[RunEvent]:
        request = ChatRequested(
            request_id=f"req_{time.monotonic_ns()}",
            session_id="ses_window0001",
            user_id="u1",
            message=message,
            deadline_at=time.time() + 30,
        )
        await self.loop.start(request)
        return await self.events.replay(request.request_id)


def sentence(n: int) -> str:
    return f"turn {n}: " + "please remember these many words about the weather and the sea " * 4


async def test_a_session_whose_history_fills_the_window_still_gets_answers(small_model_url: str) -> None:
    model = ModelClient(ModelSettings(base_url=small_model_url))
    runner = Runner(model)
    try:
        for n in range(12):
            events = await runner.run(sentence(n))
            assert isinstance(events[-1], DoneEvent), events[-1]
        history = await runner.sessions.history("ses_window0001")
        whole = build_messages(OrchestratorSettings().system_prompt, history, sentence(12))
        assert count_prompt_tokens(whole) > WINDOW  # sent whole, the server would refuse this turn
        events = await runner.run("and now a short question")
        assert isinstance(events[-1], DoneEvent)
        assert '"and now a short question"' in events[-1].answer
    finally:
        await model.close()


async def test_a_question_longer_than_the_window_is_an_overflow_without_a_model_call(
    small_model_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = ModelClient(ModelSettings(base_url=small_model_url))
    try:
        with caplog.at_level(logging.WARNING, logger="agent.orchestrator.model"):
            events = await Runner(model).run("words " * 2000)
    finally:
        await model.close()
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert events[0].error.code == ErrorCode.MODEL_CONTEXT_OVERFLOW and events[0].partial is False
    assert events[0].fallback == TOO_LONG["en"]
    assert events[0].error.details["context_window"] == WINDOW
    assert "the model refused the call" not in caplog.text  # refused before calling


async def test_the_window_setting_wins_over_what_the_server_reports(small_model_url: str) -> None:
    model = ModelClient(ModelSettings(base_url=small_model_url, context_window=100_000))
    try:
        events = await Runner(model).run("words " * 2000)  # the setting lets it through; the server refuses it
    finally:
        await model.close()
    assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_CONTEXT_OVERFLOW


def vllm_like() -> Starlette:
    async def models(_: Request) -> JSONResponse:
        entries = [
            {"id": "other", "object": "model", "owned_by": "vllm", "max_model_len": 1024},
            {"id": "served", "object": "model", "owned_by": "vllm", "max_model_len": 8192},
        ]
        return JSONResponse({"object": "list", "data": entries})

    return Starlette(routes=[Route("/v1/models", models)])


async def test_vllm_s_max_model_len_is_the_window_of_the_model_asked_for() -> None:
    with serve_in_thread(vllm_like()) as url:
        model = ModelClient(ModelSettings(base_url=f"{url}/v1", name="served"))
        try:
            assert await reported_window(model._client, f"{url}/v1", "served") == 8192
        finally:
            await model.close()


async def test_a_window_not_asked_because_the_model_was_down_is_asked_at_the_next_call() -> None:
    port = free_tcp_port()
    model = ModelClient(ModelSettings(base_url=f"http://127.0.0.1:{port}/v1", name="served"))
    try:
        with pytest.raises(PlatformError) as down:
            async with model.stream([{"role": "user", "content": "hi"}], [], time.time() + 10):
                pass
        assert down.value.code is ErrorCode.MODEL_UNAVAILABLE
        with serve_in_thread(vllm_like(), port), pytest.raises(PlatformError):  # it serves no completions
            async with model.stream([{"role": "user", "content": "hi"}], [], time.time() + 10):
                pass
        assert model._window == 8192
    finally:
        await model.close()


async def test_a_server_that_reports_nothing_has_no_window(offline_url: str) -> None:
    model = ModelClient(ModelSettings(base_url=offline_url))
    try:
        assert await reported_window(model._client, offline_url, "offline-1") is None
    finally:
        await model.close()


@pytest.fixture(scope="module")
def offline_url() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield f"{url}/v1"


# ---- what goes, in which order ----

SYSTEM: ChatMessage = {"role": "system", "content": "You are helpful."}


def turns(count: int) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    for n in range(count):
        messages.append({"role": "user", "content": f"question {n} " + "x" * 400})
        messages.append({"role": "assistant", "content": f"answer {n} " + "y" * 400})
    return messages


def passages(count: int) -> ChatMessage:
    """The retrieved passages' block, best first, as retrieval writes it."""
    citations = [
        Citation(marker=n, title=f"doc {n}", source=f"s{n}.md", version="v1", location="§1", snippet="", score=0.9)
        for n in range(1, count + 1)
    ]
    texts = [f"passage {c.marker} " + "z" * 400 for c in citations]
    return {"role": "system", "content": context_message(citations, texts)}


def test_the_oldest_turns_go_first_and_whole() -> None:
    question: ChatMessage = {"role": "user", "content": "the new question"}
    messages = [SYSTEM, *turns(4), question]
    fitted, _ = fit_to_window(messages, [], window=600)
    assert fitted[0] == SYSTEM and fitted[-1] == question
    kept = [str(m["content"]).split(" ")[0:2] for m in fitted[1:-1]]
    assert kept == [["question", "2"], ["answer", "2"], ["question", "3"], ["answer", "3"]]


def test_then_the_lowest_ranked_passages() -> None:
    question: ChatMessage = {"role": "user", "content": "the new question"}
    messages = [SYSTEM, *turns(2), passages(3), question]
    fitted, _ = fit_to_window(messages, [], window=400)
    assert [m["role"] for m in fitted] == ["system", "system", "user"]  # every turn went first
    block = str(fitted[1]["content"])
    assert "[1] doc 1" in block and "[2] doc 2" in block and "[3] doc 3" not in block


def test_room_is_left_for_the_answer() -> None:
    question: ChatMessage = {"role": "user", "content": "the new question"}
    messages = [SYSTEM, *turns(2), question]
    assert len(fit_to_window(messages, [], window=600)[0]) == len(messages)
    assert len(fit_to_window(messages, [], window=2000, max_tokens=500)[0]) == len(messages)
    assert len(fit_to_window(messages, [], window=600, max_tokens=500)[0]) < len(messages)


def test_an_output_cap_larger_than_the_window_asks_for_what_the_prompt_leaves() -> None:
    # MODEL_MAX_OUTPUT_TOKENS' default (2048) against a 1024-token server: the prompt still goes,
    # and the model is asked for no more than the window has left after it.
    question: ChatMessage = {"role": "user", "content": "the new question"}
    fitted, max_tokens = fit_to_window([SYSTEM, question], [], window=1024, max_tokens=2048)
    assert fitted == [SYSTEM, question]
    assert max_tokens is not None and 256 <= max_tokens < 1024
    assert fit_to_window([SYSTEM, question], [], window=100_000, max_tokens=2048)[1] == 2048
    assert fit_to_window([SYSTEM, question], [], window=1024)[1] is None  # no cap: none is sent


def test_a_question_that_cannot_fit_is_an_overflow() -> None:
    with pytest.raises(PlatformError) as caught:
        fit_to_window([SYSTEM, {"role": "user", "content": "q" * 4000}], [], window=500)
    assert caught.value.code is ErrorCode.MODEL_CONTEXT_OVERFLOW
