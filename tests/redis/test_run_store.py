"""The run store over a real Redis, beyond its contract (`tests/contracts/run_store.py`, run
against Redis and memory alike): what the orchestrator reads back from what Redis holds."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from agent_common.run_store.redis import RedisRunStore
from agent_orchestrator.run_state import SavedRuns

pytestmark = pytest.mark.redis


def new_rid() -> str:
    return f"req_{uuid.uuid4().hex}"


async def test_an_unreadable_state_is_treated_as_gone(client: Redis) -> None:
    rid = new_rid()
    await client.set(f"run:{{{rid}}}:state", b"{broken")
    assert await SavedRuns(RedisRunStore(client).states, keep_after_deadline_s=30).load(rid) is None
