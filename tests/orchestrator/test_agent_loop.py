"""The agent loop over the in-process transports, against the offline model over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import DoneEvent, ErrorEvent, RunEvent
from agent_common.fallback import BUSY
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.resilience.breaker import BreakerState
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.ownership import BackgroundRuns
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import ModelResilienceSettings, OrchestratorSettings
from tests.support.web import free_tcp_port, serve_in_thread


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield f"{url}/v1"


@dataclass
class Harness:
    loop: AgentLoop
    background_runs: BackgroundRuns
    events: MemoryRunEventChannel
    sessions: MemorySessionStore
    runs: SavedRuns
    tool_calls: asyncio.Queue[ToolCallRequested]
    model: ModelClient

    async def next_tool_call(self) -> ToolCallRequested:
        return await asyncio.wait_for(self.tool_calls.get(), 5)

    def chat(self, message: str, session_id: str = "ses_test0001", request_id: str | None = None) -> ChatRequested:
        return ChatRequested(
            request_id=request_id or f"req_{time.monotonic_ns()}",
            session_id=session_id,
            user_id="u1",
            message=message,
            deadline_at=time.time() + 30,
        )

    async def run(self, request: ChatRequested) -> list[RunEvent]:
        """Handle `request`; its events up to the end of the run or the first tool dispatch."""
        await self.deliver(request)
        return await self.events.replay(request.request_id)

    async def complete(self, *results: ToolCallCompleted) -> None:
        """What the tool-results consumer does with `results`, then wait for the step they start."""
        await asyncio.gather(*(self.background_runs.on_tool_completed(result) for result in results))
        await self.background_runs.drain()

    async def deliver(self, request: ChatRequested) -> None:
        """What the consumer does with `request`, then wait for the run it started in the background."""
        await self.background_runs.on_chat_requested(request)
        await self.background_runs.drain()


@pytest.fixture
async def harness(model_url: str) -> AsyncIterator[Harness]:
    bus = MemoryBus(partitions=1)
    tool_calls: asyncio.Queue[ToolCallRequested] = asyncio.Queue()

    async def collect(call: ToolCallRequested) -> None:
        tool_calls.put_nowait(call)

    bus.subscribe(ToolCallRequested, collect, group="test")
    await bus.start()
    model = ModelClient(ModelSettings(base_url=model_url))
    events, sessions, runs = MemoryRunEventChannel(), MemorySessionStore(max_turns=3, ttl_s=60), MemoryRunStore()
    settings = OrchestratorSettings(max_steps=2, max_runs=10, run_lease_s=10)
    orchestrator = Orchestrator(bus=bus, events=events, sessions=sessions, runs=runs, model=model, settings=settings)
    saved = SavedRuns(runs.states, settings.run_state_ttl_s)
    yield Harness(orchestrator.loop, orchestrator.background_runs, events, sessions, saved, tool_calls, model)
    await bus.stop()
    await model.close()


def completed(call: ToolCallRequested, outcome: ToolOutcome) -> ToolCallCompleted:
    return ToolCallCompleted(
        request_id=call.request_id,
        session_id=call.session_id,
        user_id=call.user_id,
        call_id=call.call_id,
        tool=call.tool,
        outcome=outcome,
    )


PAGE = ToolOutcome(
    ok=True, output={"url": "http://docs.test/a", "status": 200, "text": "Kafka keeps order per partition."}
)


async def test_a_plain_message_streams_tokens_and_ends_with_done(harness: Harness) -> None:
    events = await harness.run(harness.chat("hello loop"))
    assert [e.type for e in events[:-1]] == ["token"] * (len(events) - 1)
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert done.answer == "".join(e.text for e in events[:-1])  # type: ignore[union-attr]
    assert '"hello loop"' in done.answer
    assert done.usage.total_tokens > 0
    assert done.finish_reason == "stop" and done.note is None  # a whole answer says so
    history = await harness.sessions.history("ses_test0001")
    assert [(t.user, t.assistant) for t in history] == [("hello loop", done.answer)]


async def test_a_tool_call_is_dispatched_and_the_result_continues_the_run(harness: Harness) -> None:
    request = harness.chat("Summarise http://docs.test/a please")
    events = await harness.run(request)
    assert [e.type for e in events] == ["tool_start"]
    call = await harness.next_tool_call()
    assert (call.tool, call.arguments, call.request_id) == (
        "http_get",
        {"url": "http://docs.test/a"},
        request.request_id,
    )
    state = await harness.runs.load(request.request_id)
    assert state is not None and [p.call_id for p in state.pending] == [call.call_id]

    await harness.complete(completed(call, PAGE))
    events = await harness.events.replay(request.request_id)
    assert [e.type for e in events[:2]] == ["tool_start", "tool_end"]
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert "Kafka keeps order per partition." in done.answer
    assert [(c.tool, c.ok) for c in done.tool_calls] == [("http_get", True)]
    assert done.finish_reason == "stop"  # the last step's: the one before it stopped for `tool_calls`
    assert await harness.runs.load(request.request_id) is None


async def test_a_redelivered_chat_request_is_answered_once(harness: Harness) -> None:
    request = harness.chat("only once")
    await harness.deliver(request)
    await harness.deliver(request)
    events = await harness.events.replay(request.request_id)
    assert [e.type for e in events].count("done") == 1
    assert len(await harness.sessions.history(request.session_id)) == 1


async def test_a_redelivered_tool_result_continues_the_run_once(harness: Harness) -> None:
    request = harness.chat("Read http://docs.test/a")
    await harness.run(request)
    call = await harness.next_tool_call()
    result = completed(call, PAGE)
    await harness.complete(result, result)
    types = [e.type for e in await harness.events.replay(request.request_id)]
    assert types.count("tool_end") == 1 and types.count("done") == 1


async def test_a_failed_tool_is_reported_and_the_answer_says_so(harness: Harness) -> None:
    request = harness.chat("Read http://blocked.test/x")
    await harness.run(request)
    call = await harness.next_tool_call()
    refused = ToolOutcome(
        ok=False,
        output={"url": "http://blocked.test/x"},
        error=ErrorInfo.of(ErrorCode.TOOL_URL_NOT_ALLOWED, "The host blocked.test is not on the allowlist."),
    )
    await harness.complete(completed(call, refused))
    events = await harness.events.replay(request.request_id)
    end = next(e for e in events if e.type == "tool_end")
    assert end.ok is False and end.error.code == ErrorCode.TOOL_URL_NOT_ALLOWED  # type: ignore[union-attr]
    done = events[-1]
    assert isinstance(done, DoneEvent) and "TOOL_URL_NOT_ALLOWED" in done.answer


async def test_a_session_keeps_only_its_last_turns(harness: Harness) -> None:
    for n in range(5):
        await harness.run(harness.chat(f"turn {n}", session_id="ses_capped01"))
    history = await harness.sessions.history("ses_capped01")
    assert [t.user for t in history] == ["turn 2", "turn 3", "turn 4"]


async def test_an_unreachable_model_ends_the_run_with_a_model_error(harness: Harness) -> None:
    dead = ModelClient(ModelSettings(base_url=f"http://127.0.0.1:{free_tcp_port()}/v1"))
    harness.loop._model = dead  # the same loop, pointed at a port nobody listens on
    events = await harness.run(harness.chat("anyone there?"))
    await dead.close()
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert events[0].error.code == ErrorCode.MODEL_UNAVAILABLE and events[0].error.error_class == "model"
    assert events[0].partial is False


@pytest.mark.parametrize(
    ("directive", "code", "partial"),
    [
        ("[[offline:rate_limit]]", ErrorCode.MODEL_RATE_LIMITED, False),
        ("[[offline:server_error]]", ErrorCode.MODEL_UNAVAILABLE, False),
        ("[[offline:overloaded]]", ErrorCode.MODEL_OVERLOADED, False),
        ("[[offline:unauthorized]]", ErrorCode.MODEL_MISCONFIGURED, False),
        ("[[offline:model_not_found]]", ErrorCode.MODEL_MISCONFIGURED, False),
        ("[[offline:context_overflow]]", ErrorCode.MODEL_CONTEXT_OVERFLOW, False),
        ("[[offline:context_overflow_llamacpp]]", ErrorCode.MODEL_CONTEXT_OVERFLOW, False),
        ("[[offline:drop_mid_stream]]", ErrorCode.MODEL_STREAM_INTERRUPTED, True),
    ],
)
async def test_model_failures_end_the_run_with_their_code(
    harness: Harness, directive: str, code: ErrorCode, partial: bool
) -> None:
    events = await harness.run(harness.chat(f"please fail {directive} now, with enough words to stream"))
    error = events[-1]
    assert isinstance(error, ErrorEvent)
    assert error.error.code == code
    assert error.partial is partial
    assert [e.type for e in events].count("error") == 1


async def test_a_model_that_does_not_start_answering_in_time_is_busy(model_url: str, harness: Harness) -> None:
    # A server that holds the call without a first token is queueing it: overloaded, not timed out.
    slow = ModelClient(ModelSettings(base_url=model_url, first_token_timeout_s=0.3))
    harness.loop._model = slow
    events = await harness.run(harness.chat("[[offline:stall]] hello"))
    await slow.close()
    assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_OVERLOADED
    assert events[-1].error.details["reason"] == "no_first_token" and events[-1].fallback == BUSY["en"]


@pytest.mark.parametrize(
    ("directive", "partial"),
    # A stall before the first token; a token a second after it: the total bound holds between chunks too.
    [("[[offline:stall]]", False), ("[[offline:slow]]", True)],
)
async def test_a_model_that_does_not_finish_before_the_run_s_deadline_times_out(
    model_url: str, harness: Harness, directive: str, partial: bool
) -> None:
    slow = ModelClient(ModelSettings(base_url=model_url, first_token_timeout_s=5))
    harness.loop._model = slow
    request = harness.chat(f"{directive} hello")
    events = await harness.run(request.model_copy(update={"deadline_at": time.time() + (1.5 if partial else 0.3)}))
    await slow.close()
    assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_TIMEOUT
    assert events[-1].partial is partial and any(e.type == "token" for e in events) is partial


async def test_a_request_past_its_deadline_ends_without_calling_the_model(harness: Harness) -> None:
    # A backlog after an outage: requests whose clients gave up already. Ending them must not call
    # the model, nor count against its breaker (40 such requests opened it for the next live one).
    model = ResilientModel.from_settings(
        ModelSettings(base_url=f"http://127.0.0.1:{free_tcp_port()}/v1"), ModelResilienceSettings()
    )
    harness.loop._model = model
    for n in range(12):
        request = harness.chat(f"waited too long {n}").model_copy(update={"deadline_at": time.time() - 1})
        events = await harness.run(request)
        assert len(events) == 1 and isinstance(events[0], ErrorEvent)
        assert events[0].error.code == ErrorCode.INFRA_TIMEOUT and events[0].error.details["reason"] == "expired"
    assert [breaker.state for breaker in model.breakers] == [BreakerState.CLOSED]
    await model.close()


async def test_the_step_limit_stops_a_model_that_keeps_calling_tools(harness: Harness) -> None:
    harness.loop._settings = OrchestratorSettings(max_steps=1)
    request = harness.chat("Read http://docs.test/a")
    await harness.run(request)
    await harness.complete(completed(await harness.next_tool_call(), PAGE))
    events = await harness.events.replay(request.request_id)
    assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_STEP_LIMIT


def test_model_readiness_probe_reaches_the_endpoint(model_url: str) -> None:
    assert httpx.get(f"{model_url}/models").status_code == 200


async def test_conversation_text_is_logged_only_when_configured(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="agent.orchestrator"):
        await harness.run(harness.chat("my secret plan"))
    assert not any("my secret plan" in str(vars(r)) for r in caplog.records)
    caplog.clear()
    harness.loop._settings = OrchestratorSettings(max_steps=2, log_prompts=True)
    with caplog.at_level(logging.INFO, logger="agent.orchestrator"):
        await harness.run(harness.chat("my debug question"))
    started = next(r for r in caplog.records if r.getMessage() == "run started")
    done = next(r for r in caplog.records if r.getMessage() == "run done")
    assert started.prompt == "my debug question"  # type: ignore[attr-defined]
    assert '"my debug question"' in done.answer  # type: ignore[attr-defined]


async def test_readiness_is_this_replicas_transports_not_the_model_provider() -> None:
    # A provider outage must not make every replica unready (rollouts and drains would stall):
    # readiness names the bus and Redis only, and answers while the model is unreachable.
    from agent_common.probes import readiness

    bus = MemoryBus(partitions=1)
    await bus.start()
    dead = ModelClient(ModelSettings(base_url="http://127.0.0.1:9/v1"))
    runs = MemoryRunStore()
    orchestrator = Orchestrator(
        bus=bus,
        events=MemoryRunEventChannel(),
        sessions=MemorySessionStore(max_turns=3, ttl_s=60),
        runs=runs,
        model=dead,
        settings=OrchestratorSettings(),
    )
    try:
        assert await readiness(orchestrator.readiness_checks()) == {"bus": True, "state": True, "events": True}
    finally:
        await bus.stop()
        await dead.close()


async def test_tool_calls_past_the_step_and_turn_caps_are_refused_and_the_model_answers_with_what_it_has(
    harness: Harness,
) -> None:
    harness.loop._settings = OrchestratorSettings(max_steps=4, max_tool_calls_per_step=3, max_tool_calls_per_turn=5)
    request = harness.chat("[[offline:tool_flood]] read http://docs.test/a")  # 6 calls at every step
    events = await harness.run(request)
    first = [await harness.next_tool_call() for _ in range(3)]
    assert harness.tool_calls.empty()  # the other three were never dispatched
    refused = [e for e in events if e.type == "tool_end"]
    assert [e.type for e in events].count("tool_start") == 6 and len(refused) == 3
    assert {(e.ok, e.error.code, e.error.details["scope"]) for e in refused} == {  # type: ignore[union-attr]
        (False, ErrorCode.TOOL_CALL_LIMIT, "step")
    }

    await harness.complete(*(completed(call, PAGE) for call in first))
    second = [await harness.next_tool_call() for _ in range(2)]  # what is left of the turn's five
    assert harness.tool_calls.empty()
    await harness.complete(*(completed(call, PAGE) for call in second))

    events = await harness.events.replay(request.request_id)
    done = events[-1]
    assert isinstance(done, DoneEvent)  # offered no tools at its cap, the model answered
    assert "Kafka keeps order per partition." in done.answer and "TOOL_CALL_LIMIT" in done.answer
    assert sum(c.ok for c in done.tool_calls) == 5
    scopes = [c.error.details["scope"] for c in done.tool_calls if c.error is not None]
    assert scopes == ["step"] * 3 + ["turn"] * 4
    assert [e.type for e in events].count("tool_start") == [e.type for e in events].count("tool_end") == 12


async def test_a_turn_at_its_tool_cap_is_offered_no_tools(harness: Harness) -> None:
    harness.loop._settings = OrchestratorSettings(max_steps=4, max_tool_calls_per_step=2, max_tool_calls_per_turn=2)
    request = harness.chat("[[offline:tool_flood]] read http://docs.test/a")
    await harness.run(request)
    calls = [await harness.next_tool_call() for _ in range(2)]
    await harness.complete(*(completed(call, PAGE) for call in calls))
    events = await harness.events.replay(request.request_id)
    assert isinstance(events[-1], DoneEvent) and harness.tool_calls.empty()
    assert [e.type for e in events].count("tool_start") == 6  # one step only: the next was offered no tools
