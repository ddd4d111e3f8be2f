"""Chat requests (and the steps after tool results) leave the consumer for background runs:
runs of one partition stream at the same time, bounded per replica; one session's turns still run one after the
other; a stopping replica finishes its runs, or hands them over.

The model here streams one token, then waits until the test opens its gate:
what the tests wait for are events, never durations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from agent_common.bus import MemoryBus
from agent_common.events import ErrorEvent, RunEvent
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolOutcome
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_orchestrator.conversation import ChatMessage, ToolDefinition
from agent_orchestrator.model_stream import ModelTurn, TextDelta, ToolCallRequest
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import OrchestratorSettings

WAIT_S = 10  # a hang guard: every wait below ends as soon as what it waits for happened
WAITING = "waiting for the session's previous turn to end"


class Answer:
    """A model call's stream: what `answer` yields, then `turn`."""

    def __init__(self, model: GatedModel, messages: Sequence[ChatMessage]) -> None:
        self._model = model
        self._messages = messages
        self._turn: ModelTurn | None = None

    async def __aiter__(self) -> AsyncIterator[TextDelta]:
        async for text in self._model.answer(self._messages):
            yield TextDelta(text)
        self._turn = self._model.turn_for(self._messages)

    def turn(self) -> ModelTurn:
        assert self._turn is not None
        return self._turn


class GatedModel:
    """Streams "first ", then waits for `gate` before "last": a model call held open."""

    model = "gated"
    max_output_tokens: int | None = None

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.prompts: list[list[ChatMessage]] = []

    @asynccontextmanager
    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        deadline_at: float,
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[Answer]:
        yield Answer(self, messages)

    async def answer(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        self.prompts.append(list(messages))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            yield "first "
            await self.gate.wait()
            yield "last"
        finally:
            self.in_flight -= 1

    def turn_for(self, messages: Sequence[ChatMessage]) -> ModelTurn:
        return ModelTurn(text="first last", model=self.model)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class ToolFirstModel(GatedModel):
    """Asks for a page first; once the page is in the conversation, answers as `GatedModel` does."""

    async def answer(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        if any(m["role"] == "tool" for m in messages):
            async for text in super().answer(messages):
                yield text

    def turn_for(self, messages: Sequence[ChatMessage]) -> ModelTurn:
        if any(m["role"] == "tool" for m in messages):
            return super().turn_for(messages)
        call = ToolCallRequest(call_id="call_page", name="http_get", arguments_json='{"url": "http://docs.test/a"}')
        return ModelTurn(tool_calls=[call], model=self.model)


class RecordingChannel(MemoryRunEventChannel):
    """Every event of every run, in the order they were published."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[RunEvent] = []
        self._changed = asyncio.Event()

    async def publish(self, event: RunEvent) -> RunEvent:
        stamped = await super().publish(event)
        self.log.append(stamped)
        self._changed.set()
        return stamped

    def index(self, request_id: str, event_type: str) -> int:
        return next(i for i, e in enumerate(self.log) if e.request_id == request_id and e.type == event_type)

    def has(self, request_id: str, event_type: str) -> bool:
        return any(e.request_id == request_id and e.type == event_type for e in self.log)

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


class Replicas:
    """Orchestrator replicas over one bus partition and shared stores, each with its own gated model."""

    def __init__(self, count: int = 1, model: type[GatedModel] = GatedModel, **settings: Any) -> None:
        self.bus = MemoryBus(partitions=1)
        self.events = RecordingChannel()
        self.sessions = MemorySessionStore(max_turns=5, ttl_s=60)
        self.store = MemoryRunStore()
        self.models = [model() for _ in range(count)]
        self.settings = OrchestratorSettings.model_validate({"concurrency": 1, **settings})
        self.orchestrators = [
            Orchestrator(
                bus=self.bus,
                events=self.events,
                sessions=self.sessions,
                runs=self.store,
                model=model,
                settings=self.settings,
            )
            for model in self.models
        ]
        self.runs = SavedRuns(self.store.states, self.settings.run_state_ttl_s)
        # Only the first replica consumes the bus (the in-memory bus has no consumer groups to
        # share); the others are handed requests directly, as after a rebalance.
        self.orchestrators[0].register()

    def open_gates(self) -> None:
        for model in self.models:
            model.gate.set()

    async def start(self) -> None:
        await self.bus.start()

    async def close(self) -> None:
        self.open_gates()
        for orchestrator in self.orchestrators:
            await orchestrator.stop()
        await self.bus.stop()


@pytest.fixture
async def one() -> AsyncIterator[Replicas]:
    r = Replicas()
    await r.start()
    yield r
    await r.close()


def chat(session: str, message: str = "hello") -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{time.monotonic_ns()}",
        session_id=session,
        user_id="u1",
        message=message,
        deadline_at=time.time() + 60,
    )


async def test_runs_of_one_partition_stream_at_the_same_time(one: Replicas) -> None:
    requests = [chat(f"ses_partition{n:02d}") for n in range(6)]
    for request in requests:
        await one.bus.publish(request)  # one partition: a consumer that held it per run would start one
    # Every run's first token, while every model call is still held open: each request left the
    # consumer as soon as its run had started.
    await one.events.until(lambda: all(one.events.has(r.request_id, "token") for r in requests))
    assert one.models[0].in_flight == len(requests)
    one.open_gates()
    await one.events.until(lambda: all(one.events.has(r.request_id, "done") for r in requests))
    last_first_token = max(one.events.index(r.request_id, "token") for r in requests)
    first_done = min(one.events.index(r.request_id, "done") for r in requests)
    assert last_first_token < first_done


async def test_the_steps_after_tool_results_of_one_partition_stream_at_the_same_time() -> None:
    r = Replicas(model=ToolFirstModel)
    await r.start()
    try:
        requests = [chat(f"ses_tools{n:02d}") for n in range(4)]
        for request in requests:
            await r.bus.publish(request)
        await r.events.until(lambda: all(r.events.has(q.request_id, "tool_start") for q in requests))
        for request in requests:
            state = await r.runs.load(request.request_id)
            assert state is not None
            await r.bus.publish(  # one partition of tool results too
                ToolCallCompleted(
                    request_id=request.request_id,
                    session_id=request.session_id,
                    user_id=request.user_id,
                    call_id=state.pending[0].call_id,
                    tool="http_get",
                    outcome=ToolOutcome(ok=True, output={"url": "http://docs.test/a", "status": 200, "text": "a page"}),
                )
            )
        # Each result left the consumer once the run's next step had started.
        await r.events.until(lambda: all(r.events.has(q.request_id, "token") for q in requests))
        assert r.models[0].in_flight == len(requests)
        r.open_gates()
        await r.events.until(lambda: all(r.events.has(q.request_id, "done") for q in requests))
    finally:
        await r.close()


async def test_a_replica_runs_at_most_its_cap_and_its_consumer_waits_meanwhile() -> None:
    r = Replicas(max_runs=2)
    await r.start()
    try:
        requests = [chat(f"ses_cap{n:02d}") for n in range(4)]
        for request in requests:
            await r.bus.publish(request)
        await r.events.until(lambda: sum(r.events.has(q.request_id, "token") for q in requests) == 2)
        await asyncio.sleep(0.2)  # room for a broken cap to start more runs: it must not
        assert r.models[0].in_flight == 2
        # The third request waits in the handler for a slot; the fourth was not even fetched.
        assert r.bus._groups["chat.requests"][0].partitions[0].qsize() == 1
        r.open_gates()
        await r.events.until(lambda: all(r.events.has(q.request_id, "done") for q in requests))
        assert r.models[0].most_in_flight == 2
    finally:
        await r.close()


async def test_one_sessions_turns_run_one_after_the_other_across_replicas(caplog: pytest.LogCaptureFixture) -> None:
    r = Replicas(count=2)
    await r.start()
    try:
        first, second = chat("ses_ordered01", "my first turn"), chat("ses_ordered01", "my second turn")
        await r.orchestrators[0].background_runs.on_chat_requested(first)
        await r.events.until(lambda: r.events.has(first.request_id, "token"))
        # The session's next turn reaches the other replica (a rebalance): its handler waits, and
        # with it its partition, so the turns after it stay in order too.
        with caplog.at_level(logging.INFO, logger="agent.orchestrator"):
            handling = asyncio.create_task(r.orchestrators[1].background_runs.on_chat_requested(second))
            async with asyncio.timeout(WAIT_S):
                while not any(rec.message == WAITING for rec in caplog.records):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        assert not handling.done() and not r.events.has(second.request_id, "token")
        r.open_gates()
        await asyncio.wait_for(handling, WAIT_S)
        await r.events.until(lambda: r.events.has(second.request_id, "done"))
    finally:
        await r.close()
    assert r.events.index(first.request_id, "done") < r.events.index(second.request_id, "token")
    # The second turn's model call saw the first turn, answer included: session memory is whole.
    seen = r.models[1].prompts[0]
    assert {"role": "user", "content": "my first turn"} in seen
    assert {"role": "assistant", "content": "first last"} in seen
    history = await r.sessions.history("ses_ordered01")
    assert [t.user for t in history] == ["my first turn", "my second turn"]


async def test_a_stopping_replica_finishes_its_runs_before_it_returns(one: Replicas) -> None:
    request = chat("ses_stopping01")
    await one.bus.publish(request)
    await one.events.until(lambda: one.events.has(request.request_id, "token"))
    stopping = asyncio.create_task(one.orchestrators[0].stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waiting for the run in flight
    one.open_gates()
    await asyncio.wait_for(stopping, WAIT_S)
    assert one.events.has(request.request_id, "done")


async def test_a_run_cut_off_by_the_end_of_a_drain_is_taken_over_at_once() -> None:
    r = Replicas(count=2, drain_s=0.1)
    await r.start()
    try:
        request = chat("ses_cutoff01")
        await r.bus.publish(request)
        await r.events.until(lambda: r.events.has(request.request_id, "token"))
        await r.orchestrators[0].stop()  # the model call never ends: the drain gives up on it
        # Its lease was freed, not left to run out: the next sweep of the other replica takes it.
        assert await r.orchestrators[1].background_runs.take_over_expired() == 1
        await r.orchestrators[1].background_runs.drain()
    finally:
        await r.close()
    ends = [e for e in r.events.log if e.request_id == request.request_id and e.type in ("done", "error")]
    assert len(ends) == 1 and isinstance(ends[0], ErrorEvent)
    assert ends[0].partial is True and ends[0].error.details["reason"] == "worker_lost"
