"""Tool results that never come become timeouts on whichever replica sweeps first; a result
that comes after its timeout, or before its deadline, changes nothing."""

from __future__ import annotations

import asyncio

from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent
from agent_common.messages import ToolCallCompleted, ToolOutcome
from tests.orchestrator.replicas import Replicas, chat, deadline_watch


async def test_a_tool_result_that_never_comes_becomes_a_timeout_and_the_run_goes_on(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/never")
    await replicas.deliver(0, request)
    await replicas.tool_calls.get()  # dispatched; no tool runner will ever answer
    watch = deadline_watch(replicas, replicas.background_runs[1].on_tool_completed)
    assert await watch.sweep() == 0  # not due yet
    await asyncio.sleep(0.25)
    assert await watch.sweep() == 1  # the other replica handles it: the run is not tied to its first one
    await replicas.background_runs[1].drain()  # the step the timeout completed, in the background
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
    await deadline_watch(replicas, replicas.background_runs[0].on_tool_completed).sweep()
    await replicas.background_runs[0].drain()
    late = ToolCallCompleted(
        request_id=call.request_id,
        session_id=call.session_id,
        user_id=call.user_id,
        call_id=call.call_id,
        tool=call.tool,
        outcome=ToolOutcome(ok=True, output={"url": "http://docs.test/late", "status": 200, "text": "late text"}),
    )
    await replicas.background_runs[1].on_tool_completed(late)
    await replicas.background_runs[1].drain()
    types = [e.type for e in await replicas.events.replay(request.request_id)]
    assert types.count("tool_end") == 1 and types.count("done") == 1


async def test_a_result_before_its_deadline_leaves_nothing_to_time_out(replicas: Replicas) -> None:
    request = chat("Read http://docs.test/fast")
    await replicas.deliver(0, request)
    call = await replicas.tool_calls.get()
    ok = ToolOutcome(ok=True, output={"url": "http://docs.test/fast", "status": 200, "text": "fast"})
    await replicas.background_runs[0].on_tool_completed(
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
    assert await deadline_watch(replicas, replicas.background_runs[1].on_tool_completed).sweep() == 0
