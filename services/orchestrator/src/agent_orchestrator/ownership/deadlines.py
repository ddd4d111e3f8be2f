"""Tool results that never come: each replica looks for overdue ones and turns
them into `TOOL_TIMEOUT` outcomes, so a run always goes on.

A step's deadline is scheduled in the run store when its tool calls are
dispatched. Every replica scans for deadlines that have passed; taking one is
atomic, so exactly one replica handles it, and it feeds the missing outcomes
through the same path as real results. A real result that arrives later is
then a duplicate and is ignored; one that arrived first makes the timeout the
duplicate. A dead replica's runs are handled by the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.messages import ToolCallCompleted, ToolOutcome
from agent_common.run_store import ToolDeadlines, ToolResults
from agent_orchestrator.run_state import SavedRuns

log = logging.getLogger("agent.orchestrator")


class DeadlineWatch:
    """The sweep for overdue tool results; `sweeps.Periodic` runs it on every replica. `feed` is
    where real results go too (`BackgroundRuns.on_tool_completed`)."""

    def __init__(
        self,
        feed: Callable[[ToolCallCompleted], Awaitable[None]],
        *,
        deadlines: ToolDeadlines,
        saved: SavedRuns,
        results: ToolResults,
        timeout_s: float,
    ) -> None:
        self._feed = feed
        self._deadlines = deadlines
        self._saved = saved
        self._results = results
        self._timeout_s = timeout_s

    async def sweep(self) -> int:
        """Time out the missing results of every step whose deadline has passed; returns how many."""
        timed_out = 0
        for request_id, step in await self._deadlines.take_due(time.time()):
            state = await self._saved.load(request_id)
            if state is None or state.step != step:
                continue  # finished, or already on a later step
            results = await self._results.of_step(request_id, step)
            for call in state.pending:
                if call.call_id in results:
                    continue
                timed_out += 1
                log.warning("tool result overdue; counted as a timeout", extra={"call_id": call.call_id})
                await self._feed(
                    ToolCallCompleted(
                        request_id=request_id,
                        session_id=state.session_id,
                        user_id=state.user_id,
                        call_id=call.call_id,
                        tool=call.tool,
                        outcome=ToolOutcome(
                            ok=False,
                            output={"url": call.arguments["url"]} if isinstance(call.arguments.get("url"), str) else {},
                            error=ErrorInfo.of(
                                ErrorCode.TOOL_TIMEOUT,
                                f"No result came back from the tool within {self._timeout_s:.0f} s.",
                                reason="no_result",
                            ),
                        ),
                    )
                )
        return timed_out
