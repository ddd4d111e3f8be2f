"""A run's ending: the one `done` or `error` event that closes its stream.

Two writers end runs, and both do it here: the orchestrator's agent loop when a
run finishes or fails, and the gateway when a run cannot reach its client (the
deadline passed, the request could not be published, the event stream was
lost). An `error` ending always carries whether the client saw part of an
answer (`partial`) and the fallback message in the user's language.
"""

from __future__ import annotations

from agent_common.errors import ErrorInfo
from agent_common.events import DoneEvent, ErrorEvent, RunEvent
from agent_common.fallback import Language, fallback_message
from agent_common.run_events.base import RunEventChannel

RunEnding = DoneEvent | ErrorEvent


def failure(request_id: str, error: ErrorInfo, language: Language, *, partial: bool) -> ErrorEvent:
    """The `error` ending of a run: `partial` when tokens were sent already (the answer shown is incomplete)."""
    return ErrorEvent(
        request_id=request_id,
        error=error,
        partial=partial,
        fallback=fallback_message(error, language, partial=partial),
    )


async def end_run(channel: RunEventChannel, ending: RunEnding) -> RunEvent:
    """Publish a run's ending, stamped as its last event (a client that reconnects sees it too)."""
    return await channel.publish(ending)
