"""A new run's reads before its first model call go out together: the takeover check's (its saved
state, its buffered events) and the first step's (the session's history, the run's audience).
Over Redis they were four round trips in a row before the model was asked anything; each one
here waits until all four have begun, so reads made one after another never get past the first.

They go out right behind the run's claim, not after its answer: on Redis, the claim's command
first and theirs next on the process's one connection, so Redis runs them after the claim (the
history read then sees the session's previous turn whole)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from agent_common.events import DoneEvent
from agent_common.messages import ChatRequested
from tests.orchestrator.replicas import Replicas, chat, redis_replica

READS = ("saved state", "buffered events", "history", "audience")

Read = Callable[..., Awaitable[Any]]


def wrap_reads(replicas: Replicas, monkeypatch: pytest.MonkeyPatch, wrap: Callable[[str, Read], Read]) -> None:
    """Each of the four reads, by its name in `READS`, through `wrap`."""
    for target, attribute, name in (
        (replicas.store.states, "load", "saved state"),
        (replicas.events, "replay", "buffered events"),
        (replicas.sessions, "history", "history"),
        (replicas.events, "audience", "audience"),
    ):
        monkeypatch.setattr(target, attribute, wrap(name, getattr(target, attribute)))


async def answered(replicas: Replicas, monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """A chat request delivered to a replica, answered whole (checked with the reads as they are)."""
    request = chat(message)
    await replicas.deliver(0, request)
    monkeypatch.undo()
    events = await replicas.events.replay(request.request_id)
    assert isinstance(events[-1], DoneEvent) and f'"{message}"' in events[-1].answer


async def test_a_new_runs_four_reads_before_its_model_call_are_made_at_once(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_begun = asyncio.Barrier(len(READS))
    begun: list[str] = []

    def together(name: str, read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def first_waits_for_the_others(*args: Any, **kwargs: Any) -> Any:
            if name not in begun:  # later steps' reads go on alone
                begun.append(name)
                async with asyncio.timeout(10):
                    await all_begun.wait()
            return await read(*args, **kwargs)

        return first_waits_for_the_others

    wrap_reads(replicas, monkeypatch, together)

    await answered(replicas, monkeypatch, "ask everything at once")
    assert sorted(begun) == sorted(READS)


async def test_a_new_runs_reads_go_out_behind_its_claim_not_after_its_answer(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is made first (its command before theirs), and the four reads begin while its
    answer is still on the way: here the claim's answer waits until all four have begun."""
    all_begun = asyncio.Event()
    seen: list[str] = []

    def recorded(name: str, read: Read) -> Read:
        async def read_and_record(*args: Any, **kwargs: Any) -> Any:
            seen.append(name)
            if set(READS) <= set(seen):
                all_begun.set()
            return await read(*args, **kwargs)

        return read_and_record

    claim = replicas.claims.claim

    async def claim_answered_once_the_reads_began(*args: Any, **kwargs: Any) -> Any:
        seen.append("claim")
        found = await claim(*args, **kwargs)
        async with asyncio.timeout(10):  # reads made once the claim is answered never begin
            await all_begun.wait()
        return found

    wrap_reads(replicas, monkeypatch, recorded)
    monkeypatch.setattr(replicas.claims, "claim", claim_answered_once_the_reads_began)

    await answered(replicas, monkeypatch, "read behind the claim")
    assert seen[0] == "claim" and sorted(seen[1:5]) == sorted(READS)


async def test_reads_made_behind_a_claim_that_was_not_taken_are_dropped(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate delivery (the run done already) read for nothing: its reads are let go, not
    left running (here its history read would never end) nor with an error nobody retrieves."""
    request = chat("delivered twice")
    await replicas.deliver(0, request)
    before = {task for task in asyncio.all_tasks() if not task.done()}

    async def history_that_never_ends(*args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(replicas.sessions, "history", history_that_never_ends)
    await replicas.deliver(1, request)
    await asyncio.sleep(0.05)
    assert {task for task in asyncio.all_tasks() if not task.done()} <= before
    events = await replicas.events.replay(request.request_id)
    assert [type(e).__name__ for e in events].count("DoneEvent") == 1


@pytest.mark.redis
async def test_over_redis_the_claim_reaches_it_before_the_runs_reads(redis_url: str, model_url: str) -> None:
    request = ChatRequested(
        request_id=f"req_{uuid.uuid4().hex}",
        session_id=f"ses_{uuid.uuid4().hex}",
        user_id="u1",
        message="the claim first",
        deadline_at=time.time() + 60,
    )
    commands = _monitored(redis_url, (request.request_id, request.session_id))
    try:
        async with redis_replica(redis_url, model_url, bound_s=5.0) as one:
            await one.orchestrator.background_runs.on_chat_requested(request)
            await one.orchestrator.background_runs.drain()
    finally:
        commands.stop()
    sent = [" ".join(str(a) for a in command["command"].split()[:3]) for command in commands.seen]
    claim = next(i for i, c in enumerate(sent) if c.startswith("EVAL") and request.session_id in commands.text(i))
    reads = [i for i, c in enumerate(sent) if c.split()[0] in ("GET", "LRANGE", "PUBSUB")]
    assert len(reads) == 4 and claim < min(reads), sent


class _monitored:
    """Redis's MONITOR in a thread: the commands whose text names one of `needles`, as Redis ran them."""

    def __init__(self, redis_url: str, needles: tuple[str, ...]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._needles = needles
        self._url = redis_url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        time.sleep(0.2)  # MONITOR is on before the first command

    def _watch(self) -> None:
        client = redis.Redis.from_url(self._url)
        with client.monitor() as monitor:  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            for command in monitor.listen():
                if command.get("client_type") != "lua" and any(n in command["command"] for n in self._needles):
                    self.seen.append(command)
                if self._stop.is_set():
                    return

    def text(self, i: int) -> str:
        return str(self.seen[i]["command"])

    def stop(self) -> None:
        self._stop.set()
        redis.Redis.from_url(self._url).ping()  # one more command, so the watcher reads it and stops
        self._thread.join(5)
