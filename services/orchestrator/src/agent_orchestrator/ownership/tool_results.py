"""Tool results as they arrive, at any replica: each recorded once, announced to the
client (`tool_end`), and the one that completes its step says so, so exactly one
replica claims the run's next step however results interleave."""

from __future__ import annotations

import logging

from agent_common.logs import bind_ids
from agent_common.messages import ToolCallCompleted, ToolOutcome
from agent_common.run_events import RunEventChannel
from agent_common.run_store import ToolResults
from agent_orchestrator.run_state import RunState, SavedRuns

log = logging.getLogger("agent.orchestrator")


class ToolResultRecorder:
    def __init__(self, results: ToolResults, saved: SavedRuns, events: RunEventChannel) -> None:
        self._results = results
        self._saved = saved
        self._events = events

    async def record(self, msg: ToolCallCompleted) -> RunState | None:
        """Record one tool result; the run's state when it was the step's last one (exactly one
        new result gets it, however results interleave; a redelivery of a complete step's
        result too): the claim of the next step then decides who takes the run on."""
        with bind_ids(request_id=msg.request_id, session_id=msg.session_id, user_id=msg.user_id):
            state = await self._saved.load(msg.request_id)
            if state is None:
                log.warning("tool result for an unknown or finished run", extra={"call_id": msg.call_id})
                return None
            pending = {call.call_id: call for call in state.pending}
            if msg.call_id not in pending:
                log.warning("tool result for a call the run is not waiting for", extra={"call_id": msg.call_id})
                return None
            is_new, completes = await self._results.record(
                msg.request_id,
                state.step,
                msg.call_id,
                msg.outcome.model_dump_json(),
                len(pending),
                self._saved.ttl_s(state),
            )
            if not is_new:
                # A redelivery. When its step is complete, the replica that completed it may have
                # died before claiming the next step (its offset was never committed): the state
                # goes back to the caller, whose claim of the step says whether anyone has it.
                if len(await self._results.of_step(msg.request_id, state.step)) == len(pending):
                    log.info("redelivered tool result of a complete step", extra={"call_id": msg.call_id})
                    return state
                log.info("duplicate tool result ignored", extra={"call_id": msg.call_id})
                return None
            await self._events.publish(pending[msg.call_id].ended(msg.request_id, msg.outcome))
            return state if completes else None

    async def outcomes(self, state: RunState) -> dict[str, ToolOutcome]:
        """The outcomes recorded for the run's current step, by call id."""
        recorded = await self._results.of_step(state.request_id, state.step)
        return {call_id: ToolOutcome.model_validate_json(raw) for call_id, raw in recorded.items()}
