"""What a replica does with work another replica started and did not finish: a chat
request redelivered (or taken over by the sweep) after its replica died, or the step
after a run's tool results whose replica died in it.

What was done decides what is left to do. Waiting for tools: the run lives in the run
store and goes on when their results (or their deadline) arrive. Tokens already
streamed: the answer cannot be taken back, so the run ends with an error that says it
is incomplete. Nothing sent yet: the work starts afresh, and the user never knows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import RunEvent, TokenEvent, is_terminal
from agent_common.messages import ChatRequested
from agent_common.run_events import RunEventChannel
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.ownership.leases import Leases, StepRef
from agent_orchestrator.run_state import RunState, SavedRuns

log = logging.getLogger("agent.orchestrator")


@dataclass(frozen=True)
class RunTraces:
    """What a run's earlier start left in the stores: its state saved while it waits for tools,
    and the events it published."""

    saved: RunState | None
    sent: list[RunEvent]


class Takeover:
    def __init__(self, loop: AgentLoop, saved: SavedRuns, events: RunEventChannel, leases: Leases) -> None:
        self._loop = loop
        self._saved = saved
        self._events = events
        self._leases = leases

    async def traces(self, request_id: str) -> RunTraces:
        """What an earlier start of the run left: both read at once, since a run is new far more
        often than not, and then both are empty."""
        saved, sent = await asyncio.gather(self._saved.load(request_id), self._events.replay(request_id))
        return RunTraces(saved, sent)

    async def settled(self, msg: ChatRequested, traces: Awaitable[RunTraces] | None = None) -> bool:
        """Whether a chat request's run was started before (by a replica that died, or a delivery
        before this one) and is settled here: left to its tools, or ended. False: start it.
        `traces`: `traces(msg.request_id)`, already under way."""
        left = await (traces if traces is not None else self.traces(msg.request_id))
        sent = left.sent
        if left.saved is not None:
            log.warning("run taken over while waiting for its tools; leaving it to them")
            return True
        if not sent:
            return False
        if any(is_terminal(event) for event in sent):
            await self._leases.end_turn(msg.session_id, msg.request_id)  # it ended just before its replica died
            return True
        log.warning("run taken over after it had streamed; ending it as incomplete", extra={"events": len(sent)})
        await self._end_incomplete(RunState.for_request(msg, answer=_streamed(sent)))
        return True

    async def step_to_resume(self, step: StepRef) -> RunState | None:
        """The run's state to continue after `step`'s tool results, whose replica died in it;
        None when there is nothing left to do (the run ended, moved on, or had streamed)."""
        state = await self._saved.load(step.request_id)
        if state is None or state.step != step.step or not state.pending:
            return None  # the run ended, or moved on to another step's tools
        sent = await self._events.replay(step.request_id)
        if any(is_terminal(event) for event in sent):
            await self._leases.end_turn(state.session_id, step.request_id)
            return None
        streamed = _streamed(sent)
        if len(streamed) > len(state.answer):  # the step had started its answer: it cannot restart
            state.answer = streamed
            log.warning("run's next step taken over after it had streamed; ending it as incomplete")
            await self._end_incomplete(state)
            return None
        return state

    async def _end_incomplete(self, state: RunState) -> None:
        await self._loop.fail(state, _worker_lost())
        await self._leases.end_turn(state.session_id, state.request_id)


def _streamed(sent: list[RunEvent]) -> str:
    return "".join(e.text for e in sent if isinstance(e, TokenEvent))


def _worker_lost() -> ErrorInfo:
    return ErrorInfo.of(
        ErrorCode.INFRA_UNAVAILABLE,
        "The service answering this request stopped; the answer is incomplete.",
        reason="worker_lost",
    )
