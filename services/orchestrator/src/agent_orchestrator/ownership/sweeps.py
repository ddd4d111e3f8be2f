"""Work no message will ever ask for, found by scanning the run store.

Two things have no message behind them once the bus has moved on: a tool
result that never comes (`deadlines.py`) and a run whose replica died after
its chat request was committed (`takeover.py`). Every replica runs the same
sweeps, each on its own period; what a sweep finds is taken atomically in the
store, so exactly one replica acts on each, and a sweep that fails (Redis
away, say) is simply tried again on the next period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agent_common.tasks import stop_task

log = logging.getLogger("agent.orchestrator")

Sweep = Callable[[], Awaitable[int]]


class Periodic:
    """Run `sweep` every `every_s` seconds in the background, from `start()` to `stop()`."""

    def __init__(self, name: str, every_s: float, sweep: Sweep) -> None:
        self.name = name
        self._every_s = every_s
        self._sweep = sweep
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=self.name)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _watch(self) -> None:
        while True:
            try:
                await self._sweep()
            except Exception:  # the next period tries again
                log.warning("sweep failed", extra={"sweep": self.name}, exc_info=True)
            await asyncio.sleep(self._every_s)
