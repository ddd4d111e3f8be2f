"""Runs that lose a part: a tool result that never comes, a replica that dies
mid-run and a redelivered request, a replica whose lease was taken over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, TokenEvent
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.run_events import MemoryRunEventChannel
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.deadlines import DeadlineWatch
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.runs import MemoryRunStore
from agent_orchestrator.settings import OrchestratorSettings
from tests.support.web import serve_in_thread


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield f"{url}/v1"


class Replicas:
    """Two orchestrator replicas sharing one run store, event channel and bus."""

    def __init__(self, model_url: str, lease_s: float = 10.0) -> None:
        self.bus = MemoryBus(partitions=1)
        self.events = MemoryRunEventChannel()
        self.runs = MemoryRunStore()
        self.sessions = MemorySessionStore(max_turns=5, ttl_s=60)
        self.models = [ModelClient(ModelSettings(base_url=model_url)) for _ in range(2)]
        settings = OrchestratorSettings(run_lease_s=lease_s, tool_result_timeout_s=0.2)
        self.loops = [
            AgentLoop(
                bus=self.bus, events=self.events, sessions=self.sessions, runs=self.runs, model=m, settings=settings
            )
            for m in self.models
        ]
        self.tool_calls: asyncio.Queue[ToolCallRequested] = asyncio.Queue()

        async def collect(call: ToolCallRequested) -> None:
            self.tool_calls.put_nowait(call)

        self.bus.subscribe(ToolCallRequested, collect, group="test")

    async def close(self) -> None:
        await self.bus.stop()
        for model in self.models:
            await model.close()


@pytest.fixture
async def replicas(model_url: str) -> AsyncIterator[Replicas]:
    r = Replicas(model_url)
    await r.bus.start()
    yield r
    await r.close()


def chat(message: str) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{time.monotonic_ns()}",
        session_id="ses_recovery01",
        user_id="u1",
        message=message,
        deadline_at=time.time() + 30,
    )


async def test_a_tool_result_that_never_comes_becomes_a_timeout_and_the_run_goes_on(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/never")
    await replicas.loops[0].on_chat_requested(request)
    await replicas.tool_calls.get()  # dispatched; no tool runner will ever answer
    watch = DeadlineWatch(replicas.loops[1], replicas.runs, scan_s=0.05, timeout_s=0.2)
    assert await watch.sweep() == 0  # not due yet
    await asyncio.sleep(0.25)
    assert await watch.sweep() == 1  # the other replica handles it: the run is not tied to its first one
    events = await replicas.events.replay(request.request_id)
    end = next(e for e in events if e.type == "tool_end")
    assert end.ok is False and end.error.code == ErrorCode.TOOL_TIMEOUT  # type: ignore[union-attr]
    assert end.error.details["reason"] == "no_result"  # type: ignore[union-attr]
    assert isinstance(events[-1], DoneEvent) and "TOOL_TIMEOUT" in events[-1].answer


async def test_a_result_after_its_timeout_is_ignored(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/late")
    await replicas.loops[0].on_chat_requested(request)
    call = await replicas.tool_calls.get()
    await asyncio.sleep(0.25)
    await DeadlineWatch(replicas.loops[0], replicas.runs, scan_s=0.05, timeout_s=0.2).sweep()
    late = ToolCallCompleted(
        request_id=call.request_id,
        session_id=call.session_id,
        user_id=call.user_id,
        call_id=call.call_id,
        tool=call.tool,
        outcome=ToolOutcome(ok=True, output={"url": "http://docs.test/late", "status": 200, "text": "late text"}),
    )
    await replicas.loops[1].on_tool_completed(late)
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types.count("tool_end") == 1 and types.count("done") == 1


async def test_a_result_before_its_deadline_leaves_nothing_to_time_out(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/fast")
    await replicas.loops[0].on_chat_requested(request)
    call = await replicas.tool_calls.get()
    ok = ToolOutcome(ok=True, output={"url": "http://docs.test/fast", "status": 200, "text": "fast"})
    await replicas.loops[0].on_tool_completed(
        ToolCallCompleted(
            request_id=call.request_id,
            session_id=call.session_id,
            user_id=call.user_id,
            call_id=call.call_id,
            tool=call.tool,
            outcome=ok,
        )
    )
    await asyncio.sleep(0.25)
    assert await DeadlineWatch(replicas.loops[1], replicas.runs, scan_s=0.05, timeout_s=0.2).sweep() == 0


async def test_a_request_redelivered_after_its_replica_died_before_streaming_is_answered_whole(
    model_url: str,
) -> None:
    r = Replicas(model_url, lease_s=0.1)
    await r.bus.start()
    try:
        request = chat("answer me once")
        await r.runs.begin(f"chat:{request.message_id}", "the-replica-that-died", 0.1)  # it took it, then died
        await r.loops[1].on_chat_requested(request)  # Kafka redelivers to another replica
        events = await r.events.replay(request.request_id)
    finally:
        await r.close()
    assert isinstance(events[-1], DoneEvent) and '"answer me once"' in events[-1].answer
    assert [e.type for e in events].count("done") == 1


async def test_a_request_redelivered_after_its_replica_died_mid_stream_ends_as_incomplete(model_url: str) -> None:
    r = Replicas(model_url, lease_s=0.1)
    await r.bus.start()
    try:
        request = chat("cut me off")
        await r.runs.begin(f"chat:{request.message_id}", "the-replica-that-died", 0.1)
        await r.events.publish(TokenEvent(request_id=request.request_id, text="(offline model) You said"))
        await r.loops[1].on_chat_requested(request)
        events = await r.events.replay(request.request_id)
    finally:
        await r.close()
    assert [e.type for e in events] == ["token", "error"]  # never a second answer after the first one's tokens
    error = events[-1]
    assert isinstance(error, ErrorEvent) and error.partial is True
    assert error.error.code == ErrorCode.INFRA_UNAVAILABLE and error.error.details["reason"] == "worker_lost"
    assert error.fallback is not None


async def test_a_request_redelivered_while_waiting_for_tools_is_left_to_them(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/wait")
    await replicas.loops[0].on_chat_requested(request)
    await replicas.tool_calls.get()
    key = f"chat:{request.message_id}"
    replicas.runs._leases.pop(key)  # as if replica 0 died after dispatching, before its lease was marked done
    await replicas.loops[1].on_chat_requested(request)
    assert replicas.tool_calls.empty()  # no second dispatch
    assert [e.type for e in await replicas.events.replay(request.request_id)] == ["tool_start"]


async def test_a_redelivery_of_a_finished_request_is_dropped(replicas: Replicas) -> None:
    request = chat("only once, please")
    await asyncio.gather(replicas.loops[0].on_chat_requested(request), replicas.loops[1].on_chat_requested(request))
    await replicas.loops[1].on_chat_requested(request)
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types.count("done") == 1
    assert len(await replicas.sessions.history("ses_recovery01")) == 1


async def test_a_replica_whose_lease_was_taken_stops_streaming(model_url: str) -> None:
    r = Replicas(model_url, lease_s=0.15)
    await r.bus.start()
    try:
        request = chat("[[offline:slow]] a slow answer that takes a while to stream to its end")
        running = asyncio.create_task(r.loops[0].on_chat_requested(request))
        await asyncio.sleep(0.05)
        key = f"chat:{request.message_id}"
        r.runs._leases[key] = (time.monotonic() + 60, "another-replica")  # taken over, as after a long stall
        await asyncio.wait_for(running, 5)
        events = await r.events.replay(request.request_id)
    finally:
        await r.close()
    assert not any(e.type in ("done", "error") for e in events)  # the replica that owns the run ends it
