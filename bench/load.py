"""The load generator: concurrent streams over real HTTP/SSE, timed at the client.

Three kinds of stream, the same question each time: through the platform's own
API (`POST /api/chat/stream`, SSE `token` events), through its OpenAI-compatible
API (`POST /v1/chat/completions` with `stream: true`, the `openai` series), and,
for the baseline, straight to the offline model with that same OpenAI request.
What is measured is what a client sees: the time from sending the request to the
first token, and the gaps between tokens as they arrive (frames are counted at
the client, so coalescing anywhere would show).

A level is a closed loop: `concurrency` clients, each sending its next request when its
last one ends. Its start and its end are not steady state. Every client sends its first
request at the same instant, and at the end clients go idle one by one as the queue runs
out (a system whose requests all take the same time ends them together; one with any
spread leaves clients idle for up to a request's length). With four requests a client,
as 200 requests at 50 streams were, the two ends weighed more than any change measured
(docs/benchmarks.md has the figures). So each client's first request is the warm-up, not
counted in the figures, and the rate is each client's answers after its first, over the
time from its first answer to its last, summed over the clients.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import httpx
from httpx_sse import aconnect_sse

QUESTION = "Tell me about the platform in a few sentences, please."
REQUESTS_PER_CLIENT = 10  # at least, at every level: nine steady requests a client after its warm-up


def requests_for(concurrency: int, at_least: int) -> int:
    """A level's requests: `at_least`, and `REQUESTS_PER_CLIENT` for each client where that is more."""
    return max(at_least, REQUESTS_PER_CLIENT * concurrency)


@dataclass
class Stream:
    ok: bool
    ttft_s: float = 0.0
    gaps_s: list[float] = field(default_factory=list)
    total_s: float = 0.0
    error: str = ""


@dataclass
class Level:
    """One level's requests as its clients made them: `by_client[c]` is client c's, in order,
    each with the time it ended (`time.perf_counter`)."""

    by_client: list[list[tuple[Stream, float]]]
    wall_s: float

    @property
    def streams(self) -> list[Stream]:
        """Every request, warm-ups included."""
        return [stream for made in self.by_client for stream, _ in made]

    @property
    def steady(self) -> list[Stream]:
        """Each client's requests after its first."""
        return [stream for made in self.by_client for stream, _ in made[1:]]

    @property
    def requests_per_s(self) -> float:
        """Answered requests a second in steady state: each client's answers after its first, over
        the time from its first request's end to its last's, summed over the clients. Where a
        client made only one request there is no steady state to measure: answers over wall time."""
        if any(len(made) < 2 for made in self.by_client):
            return sum(1 for s in self.streams if s.ok) / self.wall_s if self.wall_s else 0.0
        rate = 0.0
        for made in self.by_client:
            span = made[-1][1] - made[0][1]
            rate += sum(1 for stream, _ in made[1:] if stream.ok) / span if span > 0 else 0.0
        return rate


async def platform_stream(client: httpx.AsyncClient, base_url: str, n: int, question: str = QUESTION) -> Stream:
    started = time.perf_counter()
    arrivals: list[float] = []
    try:
        async with aconnect_sse(
            client, "POST", f"{base_url}/api/chat/stream", json={"message": f"{question} ({n})"}
        ) as source:
            if source.response.status_code != 200:
                return Stream(ok=False, error=f"HTTP {source.response.status_code}")
            async for event in source.aiter_sse():
                if event.event == "token":
                    arrivals.append(time.perf_counter())
                elif event.event == "error":
                    return Stream(ok=False, error=json.loads(event.data)["error"]["code"])
                elif event.event == "done":
                    break
    except httpx.HTTPError as exc:
        return Stream(ok=False, error=type(exc).__name__)
    return _timed(started, arrivals)


async def openai_stream(client: httpx.AsyncClient, v1_url: str, n: int, model: str) -> Stream:
    """An OpenAI chat completion streamed from `v1_url`; a token arrives with each chunk that has text."""
    started = time.perf_counter()
    arrivals: list[float] = []
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": f"{QUESTION} ({n})"}],
    }
    try:
        async with aconnect_sse(client, "POST", f"{v1_url}/chat/completions", json=body) as source:
            if source.response.status_code != 200:
                return Stream(ok=False, error=f"HTTP {source.response.status_code}")
            async for event in source.aiter_sse():
                if event.data == "[DONE]":
                    break
                if not event.data:  # a keep-alive comment
                    continue
                chunk = json.loads(event.data)
                if "error" in chunk:
                    return Stream(ok=False, error=chunk["error"]["code"])
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                    arrivals.append(time.perf_counter())
    except httpx.HTTPError as exc:
        return Stream(ok=False, error=type(exc).__name__)
    return _timed(started, arrivals)


def _timed(started: float, arrivals: list[float]) -> Stream:
    if not arrivals:
        return Stream(ok=False, error="no tokens")
    gaps = [b - a for a, b in pairwise(arrivals)]
    return Stream(ok=True, ttft_s=arrivals[0] - started, gaps_s=gaps, total_s=arrivals[-1] - started)


async def run_level(
    kind: str, url: str, concurrency: int, requests: int, headers: dict[str, str], question: str = QUESTION
) -> Level:
    """`requests` streams of `kind` (`platform`, `openai`: `url` is the platform's; `baseline`: the
    model's `/v1`) from `concurrency` clients, each sending its next when its last ends. `question`:
    the platform's message (one with a URL makes a tool call)."""
    limits = httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency + 10)
    timeout = httpx.Timeout(120, connect=30)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    by_client: list[list[tuple[Stream, float]]] = [[] for _ in range(concurrency)]
    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:
        streams: dict[str, Callable[[httpx.AsyncClient, int], Awaitable[Stream]]] = {
            "platform": lambda client, n: platform_stream(client, url, n, question),
            "openai": lambda client, n: openai_stream(client, f"{url}/v1", n, "agent"),
            "baseline": lambda client, n: openai_stream(client, url, n, "offline-1"),
        }
        one = streams[kind]

        async def client_loop(made: list[tuple[Stream, float]]) -> None:
            while not queue.empty():
                n = queue.get_nowait()
                stream = await one(client, n)
                made.append((stream, time.perf_counter()))

        started = time.perf_counter()
        await asyncio.gather(*(client_loop(made) for made in by_client))
        return Level([made for made in by_client if made], time.perf_counter() - started)


async def hold_idle_streams(
    base_url: str, count: int, headers: dict[str, str]
) -> tuple[int, list[asyncio.Task[None]], httpx.AsyncClient]:
    """Open `count` streams that wait (the model stalls) and keep them open; returns how many opened."""
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600, connect=60), headers=headers)
    opened = asyncio.Semaphore(0)
    failures: list[str] = []

    async def hold(n: int) -> None:
        try:
            async with client.stream("POST", f"{base_url}/api/chat/stream", json={"message": f"wait {n}"}) as response:
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code}")
                    opened.release()
                    return
                opened.release()
                async for _ in response.aiter_bytes():
                    pass
        except httpx.HTTPError as exc:
            failures.append(type(exc).__name__)
            opened.release()

    tasks = [asyncio.create_task(hold(n)) for n in range(count)]
    for _ in range(count):
        await asyncio.wait_for(opened.acquire(), 120)
    return count - len(failures), tasks, client
