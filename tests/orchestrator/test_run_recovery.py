"""Runs that lose a part: a tool result that never comes, a replica that dies
mid-run or in the step after its tools (taken over by another replica's sweep),
a redelivered request, a replica whose lease was taken over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, TokenEvent
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.run_store.memory import MemoryRunClaims
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.ownership import DeadlineWatch, Leases, ToolResultRecorder, run_key, step_key
from agent_orchestrator.runs import SavedRuns
from agent_orchestrator.service import Orchestrator
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
        self.store = MemoryRunStore()
        self.sessions = MemorySessionStore(max_turns=5, ttl_s=60)
        self.models = [ModelClient(ModelSettings(base_url=model_url)) for _ in range(2)]
        settings = OrchestratorSettings(run_lease_s=lease_s, tool_result_timeout_s=0.2, max_runs=10)
        orchestrators = [
            Orchestrator(
                bus=self.bus, events=self.events, sessions=self.sessions, runs=self.store, model=m, settings=settings
            )
            for m in self.models
        ]
        self.loops = [o.loop for o in orchestrators]
        self.handoffs = [o.background_runs for o in orchestrators]
        self.saved = SavedRuns(self.store.states, settings.run_state_ttl_s)
        self.results = ToolResultRecorder(self.store.tool_results, self.saved, self.events)
        assert isinstance(self.store.claims, MemoryRunClaims)
        self.claims = self.store.claims
        self.tool_calls: asyncio.Queue[ToolCallRequested] = asyncio.Queue()

        async def collect(call: ToolCallRequested) -> None:
            self.tool_calls.put_nowait(call)

        self.bus.subscribe(ToolCallRequested, collect, group="test")

    async def deliver(self, replica: int, request: ChatRequested) -> None:
        """The consumer of `replica` handles `request`; wait for the run it handed off."""
        await self.handoffs[replica].on_chat_requested(request)
        await self.handoffs[replica].drain()

    def die(self, request: ChatRequested | str) -> None:
        """The replica holding the lease on `request` (or on the key) is gone: nobody renews it,
        and it runs out."""
        self.claims._leases.pop(request if isinstance(request, str) else run_key(request))

    async def sweep(self, replica: int) -> int:
        """One takeover sweep on `replica`, waiting for the runs it took over."""
        taken = await self.handoffs[replica].take_over_expired()
        await self.handoffs[replica].drain()
        return taken

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


def deadline_watch(replicas: Replicas, feed: Callable[[ToolCallCompleted], Awaitable[None]]) -> DeadlineWatch:
    """A replica's sweep for overdue tool results, feeding what it times out to `feed`."""
    return DeadlineWatch(
        feed,
        deadlines=replicas.store.deadlines,
        saved=replicas.saved,
        results=replicas.store.tool_results,
        timeout_s=0.2,
    )


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
    await replicas.deliver(0, request)
    await replicas.tool_calls.get()  # dispatched; no tool runner will ever answer
    watch = deadline_watch(replicas, replicas.handoffs[1].on_tool_completed)
    assert await watch.sweep() == 0  # not due yet
    await asyncio.sleep(0.25)
    assert await watch.sweep() == 1  # the other replica handles it: the run is not tied to its first one
    await replicas.handoffs[1].drain()  # the step the timeout completed, in the background
    events = await replicas.events.replay(request.request_id)
    end = next(e for e in events if e.type == "tool_end")
    assert end.ok is False and end.error.code == ErrorCode.TOOL_TIMEOUT  # type: ignore[union-attr]
    assert end.error.details["reason"] == "no_result"  # type: ignore[union-attr]
    assert isinstance(events[-1], DoneEvent) and "TOOL_TIMEOUT" in events[-1].answer


async def test_a_result_after_its_timeout_is_ignored(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/late")
    await replicas.deliver(0, request)
    call = await replicas.tool_calls.get()
    await asyncio.sleep(0.25)
    await deadline_watch(replicas, replicas.handoffs[0].on_tool_completed).sweep()
    await replicas.handoffs[0].drain()
    late = ToolCallCompleted(
        request_id=call.request_id,
        session_id=call.session_id,
        user_id=call.user_id,
        call_id=call.call_id,
        tool=call.tool,
        outcome=ToolOutcome(ok=True, output={"url": "http://docs.test/late", "status": 200, "text": "late text"}),
    )
    await replicas.handoffs[1].on_tool_completed(late)
    await replicas.handoffs[1].drain()
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types.count("tool_end") == 1 and types.count("done") == 1


async def test_a_result_before_its_deadline_leaves_nothing_to_time_out(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/fast")
    await replicas.deliver(0, request)
    call = await replicas.tool_calls.get()
    ok = ToolOutcome(ok=True, output={"url": "http://docs.test/fast", "status": 200, "text": "fast"})
    await replicas.handoffs[0].on_tool_completed(
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
    assert await deadline_watch(replicas, replicas.handoffs[1].on_tool_completed).sweep() == 0


async def test_a_run_whose_replica_died_after_the_hand_off_is_taken_over_by_the_sweep(replicas: Replicas) -> None:
    request = chat("answer me once")
    # The replica took the run and its offset was committed, then it died: no redelivery will come.
    await Leases(replicas.store.claims, "the-replica-that-died", 10).claim(request)
    assert await replicas.sweep(1) == 0  # its lease is live: nothing to take over
    replicas.die(request)
    assert await replicas.sweep(1) == 1
    assert await replicas.sweep(0) == 0  # taken over by exactly one replica
    events = await replicas.events.replay(request.request_id)
    assert isinstance(events[-1], DoneEvent) and '"answer me once"' in events[-1].answer
    assert [e.type for e in events].count("done") == 1
    assert len(await replicas.sessions.history(request.session_id)) == 1


async def test_a_run_whose_replica_died_mid_stream_ends_as_incomplete(replicas: Replicas) -> None:
    request = chat("cut me off")
    await Leases(replicas.store.claims, "the-replica-that-died", 10).claim(request)
    await replicas.events.publish(TokenEvent(request_id=request.request_id, text="(offline model) You said"))
    replicas.die(request)
    assert await replicas.sweep(1) == 1
    events = await replicas.events.replay(request.request_id)
    assert [e.type for e in events] == ["token", "error"]  # never a second answer after the first one's tokens
    error = events[-1]
    assert isinstance(error, ErrorEvent) and error.partial is True
    assert error.error.code == ErrorCode.INFRA_UNAVAILABLE and error.error.details["reason"] == "worker_lost"
    assert error.fallback is not None


async def test_a_redelivery_while_a_live_replica_runs_it_is_dropped_and_the_sweep_covers_its_death(
    replicas: Replicas,
) -> None:
    request = chat("one of us answers")
    await Leases(replicas.store.claims, "a-replica-still-running-it", 10).claim(request)
    await replicas.deliver(1, request)  # redelivered (a rebalance before the commit): not run twice
    assert await replicas.events.replay(request.request_id) == []
    replicas.die(request)
    assert await replicas.sweep(1) == 1
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types.count("done") == 1 and types[-1] == "done"


async def test_a_request_redelivered_after_its_replica_died_before_the_commit_is_answered_whole(
    replicas: Replicas,
) -> None:
    request = chat("answer me whole")
    await Leases(replicas.store.claims, "the-replica-that-died", 10).claim(request)
    replicas.die(request)
    await replicas.deliver(1, request)  # Kafka redelivers what was never committed: the handler takes it
    events = await replicas.events.replay(request.request_id)
    assert isinstance(events[-1], DoneEvent) and '"answer me whole"' in events[-1].answer
    assert [e.type for e in events].count("done") == 1


async def test_a_run_taken_over_while_waiting_for_tools_is_left_to_them(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/wait")
    await Leases(replicas.store.claims, "replica-0", 10).claim(request)
    await replicas.loops[0].start(request)  # replica 0 dispatched the tool call, then died before marking it done
    await replicas.tool_calls.get()
    replicas.die(request)
    assert await replicas.sweep(1) == 1
    assert replicas.tool_calls.empty()  # no second dispatch
    assert [e.type for e in await replicas.events.replay(request.request_id)] == ["tool_start"]


def page_result(call: ToolCallRequested) -> ToolCallCompleted:
    return ToolCallCompleted(
        request_id=call.request_id,
        session_id=call.session_id,
        user_id=call.user_id,
        call_id=call.call_id,
        tool=call.tool,
        outcome=ToolOutcome(ok=True, output={"url": "http://docs.test/step", "status": 200, "text": "the page"}),
    )


async def test_the_step_after_the_tools_whose_replica_died_is_taken_over_by_the_sweep(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/step")
    await replicas.deliver(0, request)
    state = await replicas.results.record(page_result(await replicas.tool_calls.get()))
    assert state is not None  # this result completed the step: replica 0 claims the next one, then dies
    await Leases(replicas.store.claims, "replica-0", 10).claim_step(state)
    assert await replicas.sweep(1) == 0  # its lease is live
    replicas.die(step_key(request.request_id, state.step))
    assert await replicas.sweep(1) == 1
    assert await replicas.sweep(0) == 0
    events = await replicas.events.replay(request.request_id)
    assert [e.type for e in events].count("done") == 1 and isinstance(events[-1], DoneEvent)
    assert "the page" in events[-1].answer


async def test_a_step_whose_replica_died_before_claiming_it_is_run_by_the_redelivered_result(
    replicas: Replicas,
) -> None:
    request = chat("Read http://docs.test/step")
    await replicas.deliver(0, request)
    result = page_result(await replicas.tool_calls.get())
    assert await replicas.results.record(result) is not None
    # Replica 0 recorded the result that completes the step and died before claiming the next
    # step: its offset was never committed, so Kafka hands the same result to replica 1.
    await replicas.handoffs[1].on_tool_completed(result)
    await replicas.handoffs[1].drain()
    await replicas.handoffs[0].on_tool_completed(result)  # and once more: the step is done, nothing happens
    await replicas.handoffs[0].drain()
    events = await replicas.events.replay(request.request_id)
    assert [e.type for e in events].count("done") == 1 and isinstance(events[-1], DoneEvent)
    assert [e.type for e in events].count("tool_end") == 1
    assert "the page" in events[-1].answer


async def test_the_step_after_the_tools_whose_replica_died_mid_stream_ends_as_incomplete(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/step")
    await replicas.deliver(0, request)
    state = await replicas.results.record(page_result(await replicas.tool_calls.get()))
    assert state is not None
    await Leases(replicas.store.claims, "replica-0", 10).claim_step(state)
    await replicas.events.publish(TokenEvent(request_id=request.request_id, text="(offline model) The page"))
    replicas.die(step_key(request.request_id, state.step))
    assert await replicas.sweep(1) == 1
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types == ["tool_start", "tool_end", "token", "error"]
    error = (await replicas.events.replay(request.request_id))[-1]
    assert isinstance(error, ErrorEvent) and error.partial is True and error.error.details["reason"] == "worker_lost"


async def test_a_redelivery_of_a_finished_request_is_dropped(replicas: Replicas) -> None:
    request = chat("only once, please")
    await asyncio.gather(replicas.deliver(0, request), replicas.deliver(1, request))
    await replicas.deliver(1, request)
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types.count("done") == 1
    assert len(await replicas.sessions.history("ses_recovery01")) == 1


async def test_a_replica_whose_lease_was_taken_stops_streaming(model_url: str) -> None:
    r = Replicas(model_url, lease_s=0.15)
    await r.bus.start()
    try:
        request = chat("[[offline:slow]] a slow answer that takes a while to stream to its end")
        await r.handoffs[0].on_chat_requested(request)
        await asyncio.sleep(0.05)
        r.claims._leases[run_key(request)] = (time.monotonic() + 60, "another-replica")  # taken, as after a long stall
        await asyncio.wait_for(r.handoffs[0].drain(), 5)
        events = await r.events.replay(request.request_id)
    finally:
        await r.close()
    assert not any(e.type in ("done", "error") for e in events)  # the replica that owns the run ends it
