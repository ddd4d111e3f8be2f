"""A new run's reads before its first model call go out together: the takeover check's (its saved
state, its buffered events) and the first step's (the session's history, the run's audience).
Over Redis they were four round trips in a row before the model was asked anything; each one
here waits until all four have begun, so reads made one after another never get past the first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent_common.events import DoneEvent
from tests.orchestrator.replicas import Replicas, chat

READS = ("saved state", "buffered events", "history", "audience")


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

    states = replicas.store.states
    for target, attribute, name in (
        (states, "load", "saved state"),
        (replicas.events, "replay", "buffered events"),
        (replicas.sessions, "history", "history"),
        (replicas.events, "audience", "audience"),
    ):
        monkeypatch.setattr(target, attribute, together(name, getattr(target, attribute)))

    request = chat("ask everything at once")
    await replicas.deliver(0, request)

    assert sorted(begun) == sorted(READS)
    monkeypatch.undo()
    events = await replicas.events.replay(request.request_id)
    assert isinstance(events[-1], DoneEvent) and '"ask everything at once"' in events[-1].answer
