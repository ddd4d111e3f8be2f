"""Helpers for the run-event channel tests: ids, events, bounded waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis

from agent_common.events import DoneEvent, RunEvent, TokenEvent

WAIT_S = 15.0  # an upper bound, never a pause: every wait below ends on an event


def new_rid() -> str:
    return f"req_{uuid.uuid4().hex}"


def token(rid: str, text: str) -> TokenEvent:
    return TokenEvent(request_id=rid, text=text)


def done(rid: str, answer: str = "") -> DoneEvent:
    return DoneEvent(request_id=rid, session_id="ses_t", answer=answer, model="offline")


def keys(rid: str) -> tuple[str, str, str]:
    return f"run:{{{rid}}}:seq", f"run:{{{rid}}}:events", f"run:{{{rid}}}:live"


async def rest(events: AsyncIterator[RunEvent]) -> list[RunEvent]:
    async def drain() -> list[RunEvent]:
        return [e async for e in events]

    return await asyncio.wait_for(drain(), WAIT_S)


async def take(events: AsyncIterator[RunEvent], n: int) -> list[RunEvent]:
    return [await asyncio.wait_for(anext(events), WAIT_S) for _ in range(n)]


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """For server state another connection changes, with nothing to await: poll, bounded."""
    deadline = time.monotonic() + WAIT_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


async def numsub(client: Redis, channel: str) -> int:
    return int(dict(await client.pubsub_numsub(channel))[channel.encode()])


async def pubsub_connections(client: Redis, name: str) -> list[dict[str, str]]:
    return [c for c in await client.client_list(_type="pubsub") if c.get("name") == name]


async def value_is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
