"""A run's limits against the offline model over HTTP: the output cap (the model's, a tenant's,
over all of a run's steps), a cut-off answer that says so and is stored as such, and a run that
stops once nobody has received its events for the resume window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, RunEvent
from agent_common.fallback import ABANDONED, OUTPUT_LIMIT
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_offline_model import OfflineModelSettings
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.conversation import CUT_OFF_MARKER, ChatMessage, ToolDefinition
from agent_orchestrator.model_client import ModelClient, ProviderStream
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import OrchestratorSettings
from tests.support.web import serve_in_thread

TOKEN_DELAY_MS = 20


@pytest.fixture(scope="module")
def model_base() -> Iterator[str]:
    """The offline model, pacing its tokens so that a run takes a while."""
    settings = OfflineModelSettings(api_key=None, token_delay_ms=TOKEN_DELAY_MS, first_token_delay_ms=0)
    with serve_in_thread(create_offline_model(settings)) as url:
        yield url


class RecordingClient(ModelClient):
    """The model client, keeping what each call was sent."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__(settings)
        self.calls: list[tuple[list[ChatMessage], int | None]] = []

    @asynccontextmanager
    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        deadline_at: float,
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[ProviderStream]:
        self.calls.append((list(messages), max_tokens))
        async with super().stream(messages, tools, deadline_at, max_tokens=max_tokens) as response:
            yield response


@dataclass
class Platform:
    orchestrator: Orchestrator
    events: MemoryRunEventChannel
    sessions: MemorySessionStore
    model: RecordingClient
    tool_calls: asyncio.Queue[ToolCallRequested]

    def chat(self, message: str, *, tenant: str | None = None, session_id: str = "ses_limits01") -> ChatRequested:
        return ChatRequested(
            request_id=f"req_{time.monotonic_ns()}",
            session_id=session_id,
            user_id="u1",
            message=message,
            deadline_at=time.time() + 60,
            tenant=tenant,
        )

    async def run(self, request: ChatRequested) -> list[RunEvent]:
        runs = self.orchestrator.background_runs
        await runs.on_chat_requested(request)
        await runs.drain()
        return await self.events.replay(request.request_id)


@asynccontextmanager
async def platform(model_base: str, model: dict[str, Any], **service: Any) -> AsyncIterator[Platform]:
    bus = MemoryBus(partitions=1)
    tool_calls: asyncio.Queue[ToolCallRequested] = asyncio.Queue()

    async def collect(call: ToolCallRequested) -> None:
        tool_calls.put_nowait(call)

    bus.subscribe(ToolCallRequested, collect, group="test")
    await bus.start()
    client = RecordingClient(ModelSettings(base_url=f"{model_base}/v1", **model))
    events, sessions = MemoryRunEventChannel(), MemorySessionStore(max_turns=5, ttl_s=60)
    settings = OrchestratorSettings(max_runs=10, **service)
    orchestrator = Orchestrator(
        bus=bus, events=events, sessions=sessions, runs=MemoryRunStore(), model=client, settings=settings
    )
    try:
        yield Platform(orchestrator, events, sessions, client, tool_calls)
    finally:
        await bus.stop()
        await client.close()


def done_of(events: list[RunEvent]) -> DoneEvent:
    assert isinstance(events[-1], DoneEvent), events[-1]
    return events[-1]


async def test_an_answer_cut_off_at_the_output_cap_says_so_and_is_stored_as_cut_off(model_base: str) -> None:
    async with platform(model_base, {"max_output_tokens": 3}) as p:
        done = done_of(await p.run(p.chat("hello there")))
        assert p.model.calls[0][1] == 3  # sent as `max_tokens`
        assert (done.answer, done.finish_reason, done.truncated) == ("(offline model) You ", "length", True)
        assert done.note == OUTPUT_LIMIT["en"]
        [turn] = await p.sessions.history("ses_limits01")
        assert turn.truncated and turn.assistant == done.answer

        # The next turn's prompt tells the model the answer before was incomplete.
        await p.run(p.chat("go on"))
        prompt = p.model.calls[1][0]
        assert prompt[2] == {"role": "assistant", "content": f"(offline model) You \n\n{CUT_OFF_MARKER}"}


async def test_the_cut_off_note_is_in_the_users_language(model_base: str) -> None:
    async with platform(model_base, {"max_output_tokens": 2}) as p:
        done = done_of(await p.run(p.chat("안녕하세요, 길게 대답해 주세요")))
    assert done.finish_reason == "length" and done.note == OUTPUT_LIMIT["ko"]


async def test_a_tenants_cap_lowers_the_models_for_that_tenant_only(model_base: str) -> None:
    async with platform(model_base, {"max_output_tokens": 50}, tenant_max_output_tokens={"trial": 2}) as p:
        trial = done_of(await p.run(p.chat("hello there", tenant="trial")))
        other = done_of(await p.run(p.chat("hello there", tenant="acme", session_id="ses_limits02")))
    assert [max_tokens for _, max_tokens in p.model.calls] == [2, 50]
    assert (trial.answer, trial.finish_reason) == ("(offline model) ", "length")
    assert other.finish_reason == "stop" and other.note is None


async def test_the_cap_counts_every_step_of_a_run_and_tool_steps_keep_working(model_base: str) -> None:
    async with platform(model_base, {"max_output_tokens": 6}) as p:
        request = p.chat("Read http://docs.test/a")
        assert [e.type for e in await p.run(request)] == ["tool_start"]
        call = await asyncio.wait_for(p.tool_calls.get(), 5)
        page = ToolOutcome(ok=True, output={"url": "http://docs.test/a", "status": 200, "text": "A page."})
        result = ToolCallCompleted(
            request_id=call.request_id,
            session_id=call.session_id,
            user_id=call.user_id,
            call_id=call.call_id,
            tool=call.tool,
            outcome=page,
        )
        await p.orchestrator.background_runs.on_tool_completed(result)
        await p.orchestrator.background_runs.drain()
        done = done_of(await p.events.replay(request.request_id))
    (_, first), (_, second) = p.model.calls
    assert first == 6 and second is not None and 0 < second < 6  # what the tool call's step left
    assert done.usage.completion_tokens == 6
    assert done.finish_reason == "length" and [c.tool for c in done.tool_calls] == ["http_get"]


LONG_MESSAGE = "please repeat all of this " * 40  # an echo of some 160 tokens: over 3 s at 20 ms a token


async def served_tokens(model_base: str) -> int:
    async with httpx.AsyncClient() as http:
        count: int = (await http.get(f"{model_base}/admin/stats")).json()["tokens_served"]
        return count


async def test_a_run_nobody_hears_for_the_resume_window_stops_its_model_call(model_base: str) -> None:
    async with platform(model_base, {}, resume_window_s=0.5) as p:
        before = await served_tokens(model_base)
        started = time.monotonic()
        events = await p.run(p.chat(LONG_MESSAGE))  # nobody ever listens
        took = time.monotonic() - started
        await asyncio.sleep(0.3)  # a model still generating would go on serving tokens meanwhile
        served = await served_tokens(model_base) - before
    error = events[-1]
    assert isinstance(error, ErrorEvent) and error.error.code == ErrorCode.RUN_ABANDONED
    assert error.partial and error.fallback == ABANDONED["en"]
    assert took < 2.0  # the window and some slack, not the whole answer (over 3 s) or the deadline
    assert served < 100  # the model stopped generating: the whole answer is some 160 tokens
    assert await p.sessions.history("ses_limits01") == []  # nothing stored as if answered


async def test_a_client_that_comes_back_within_the_window_gets_its_whole_answer(model_base: str) -> None:
    async with platform(model_base, {}, resume_window_s=0.6) as p:
        request = p.chat("please repeat all of this " * 10)
        runs = p.orchestrator.background_runs
        async with p.events.listen(request.request_id) as events:
            await runs.on_chat_requested(request)
            first = await anext(aiter(events))
        await asyncio.sleep(0.4)  # gone for a while, under the window
        async with p.events.listen(request.request_id, after_seq=first.seq) as events:
            rest = [e async for e in events]
        await runs.drain()
    assert isinstance(rest[-1], DoneEvent) and rest[-1].finish_reason == "stop"
