"""Steady client traffic for the game day, made of the chaos tier's streaming clients
(`tests.chaos.load.Client`: a browser's EventSource that keeps every event): a number of
clients each sending one chat turn after another, one in `TOOL_EVERY` reading a page of the
tool upstream. Every request is kept as a `Sample`, the client's view the report is made of."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from tests.chaos.load import Client, Seen
from tests.support.platform import Platform

__all__ = ["Sample", "Traffic"]

TOOL_EVERY = 4


@dataclass(frozen=True)
class Sample:
    """One request as its client saw it; times are wall-clock seconds."""

    started_at: float
    ended_at: float
    outcome: str  # done, <CODE>[/<reason>], refused:<CODE>, lost
    fallback_shown: bool  # the error event carried the fallback text for people
    uses_tool: bool

    @property
    def latency_s(self) -> float:
        return self.ended_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.outcome == "done"

    @property
    def accepted(self) -> bool:
        return not self.outcome.startswith("refused:")

    @property
    def code(self) -> str:
        """The error code alone (`INFRA_UNAVAILABLE`), `lost`, or `done`."""
        return self.outcome.removeprefix("refused:").split("/")[0]


def _sample(seen: Seen, started_at: float, uses_tool: bool) -> Sample:
    if not seen.accepted:
        outcome = f"refused:{seen.refusal or seen.failure or f'HTTP {seen.status}'}"
    else:
        outcome = seen.outcome
    fallback = any(t["__type"] == "error" and t.get("fallback") for t in seen.terminals)
    return Sample(started_at, time.time(), outcome, fallback, uses_tool)


class Traffic:
    """`async with Traffic(platform, upstream_url, clients=4):` clients run until the block ends;
    `spike(n)` adds `n` more until it is called with 0."""

    def __init__(self, platform: Platform, upstream_url: str, *, clients: int) -> None:
        self.platform = platform
        self.upstream_url = upstream_url
        self.samples: list[Sample] = []
        self._clients = clients
        self._numbers = itertools.count()
        self._stopping = asyncio.Event()
        self._steady: list[asyncio.Task[None]] = []
        self._spike: list[asyncio.Task[None]] = []
        self._spike_stop = asyncio.Event()

    async def __aenter__(self) -> Traffic:
        self._steady = [asyncio.create_task(self._client(self._stopping)) for _ in range(self._clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()
        self._spike_stop.set()
        # Every request in flight runs to its end: one cut off here would count as lost.
        await asyncio.gather(*self._steady, *self._spike, return_exceptions=True)

    async def spike(self, extra: int, *, asking: str = "") -> None:
        """`extra` more clients from now on, each message ending with `asking` (a directive to the
        offline model: `[[offline:slow]]` for long answers); 0 stops them (each finishes its
        request first)."""
        if extra == 0:
            self._spike_stop.set()
            await asyncio.gather(*self._spike, return_exceptions=True)
            self._spike, self._spike_stop = [], asyncio.Event()
            return
        self._spike += [asyncio.create_task(self._client(self._spike_stop, asking)) for _ in range(extra)]

    def message(self, n: int) -> tuple[str, bool]:
        if n % TOOL_EVERY == 0:
            return f"gameday {n}: read {self.upstream_url}/page?n={n} please", True
        return f"gameday {n}: stream me along", False

    async def _client(self, stop: asyncio.Event, asking: str = "") -> None:
        while not stop.is_set() and not self._stopping.is_set():
            message, uses_tool = self.message(next(self._numbers))
            message = f"{message} {asking}".rstrip()
            started = time.time()
            seen = await Client(self.platform, "steady", message).task
            self.samples.append(_sample(seen, started, uses_tool))
            if not seen.accepted:
                await asyncio.sleep(0.5)  # a refused client backs off, as the chat page does
