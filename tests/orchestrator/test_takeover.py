"""Work whose replica died, taken over by another replica's sweep or by a redelivery: what
was done decides what is left (nothing sent: run afresh; tokens sent: ended as incomplete;
waiting for tools: left to them); a finished or live run is never run twice."""

from __future__ import annotations

import asyncio

from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, TokenEvent
from agent_orchestrator.ownership import Leases, step_key
from tests.orchestrator.replicas import Replicas, chat, page_result


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
    await replicas.background_runs[1].on_tool_completed(result)
    await replicas.background_runs[1].drain()
    await replicas.background_runs[0].on_tool_completed(result)  # and once more: the step is done, nothing happens
    await replicas.background_runs[0].drain()
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
