"""Background tasks' one way to end: cancelled and awaited, so nothing outlives its owner."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("agent.tasks")

# How long a stopping task is given to end (its clean-up included) before it is cancelled again.
CANCEL_AGAIN_S = 1.0


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait for it to end; its own failure, if it had one, is raised here.

    Cancelled again until it ends: a library can lose a cancellation. Seen in the chaos
    tier: a lease's renewer cancelled while its Redis command was reconnecting during an
    outage went on renewing, and kept a finished run "in flight" until its replica's
    shutdown drain ran out. A second cancellation is logged, so it does not go unseen.
    """
    if task is None:
        return
    rounds = 0
    while not task.done():
        if rounds == 1:
            log.warning("a task lost its cancellation; cancelling it again", extra={"task": task.get_name()})
        task.cancel()
        rounds += 1
        await asyncio.wait({task}, timeout=CANCEL_AGAIN_S)
    with contextlib.suppress(asyncio.CancelledError):
        await task
