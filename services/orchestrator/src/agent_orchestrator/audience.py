"""Whether anybody still receives a run's events, and stopping the run once nobody has for a while.

A client that hangs up may come back within the resume window (`Last-Event-ID`) and be replayed
what it missed, so a disconnect alone never stops a run. But a model generating for nobody costs
as much as one generating for someone: once no listener has heard the run's events for
`ORCHESTRATOR_RESUME_WINDOW_S`, the run is stopped (`RUN_ABANDONED`), and with it the model call.

The signal is the run-event channel's own: how many listeners its latest event reached (Redis
counts them as it publishes), so watching costs nothing beyond the publishes a run makes anyway.
"""

from __future__ import annotations

import logging
import time

from agent_common.errors import ErrorCode, PlatformError
from agent_common.run_events import RunEventChannel
from agent_orchestrator import metrics
from agent_orchestrator.run_state import RunState

log = logging.getLogger("agent.orchestrator")


class RunAbandoned(PlatformError):
    """Nobody received the run's events for the resume window: the run stops here."""

    def __init__(self, unheard_s: float) -> None:
        super().__init__(
            ErrorCode.RUN_ABANDONED,
            "Nobody was receiving this run's answer any more, so it was stopped.",
            unheard_s=round(unheard_s, 1),
        )


async def check_audience(events: RunEventChannel, state: RunState, window_s: float, heard: int | None = None) -> None:
    """Note whether the run's events are heard; raise `RunAbandoned` once they have not been for `window_s`.
    `heard`: the channel's `audience` for the run, read just before by the caller."""
    if heard is None:
        heard = await events.audience(state.request_id)
    if heard > 0:
        state.unheard_since = None
        return
    now = time.time()
    if state.unheard_since is None:
        state.unheard_since = now  # the client may be reconnecting: give it the window
        return
    unheard_s = now - state.unheard_since
    if unheard_s >= window_s:
        metrics.RUNS_ABANDONED.inc()
        log.warning(
            "run abandoned: nobody received its events, stopping the model call",
            extra={"unheard_s": round(unheard_s, 1), "answer_chars": len(state.answer)},
        )
        raise RunAbandoned(unheard_s)
