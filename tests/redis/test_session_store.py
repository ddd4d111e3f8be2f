"""The Redis session store over a real Redis: its keys, TTL, unreadable entries and concurrent
replicas. The contract it shares with the memory store is `tests/contracts/session_store.py`."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from agent_common.sessions.base import Turn
from agent_common.sessions.redis import RedisSessionStore

pytestmark = pytest.mark.redis


def new_session() -> str:
    return f"ses_{uuid.uuid4().hex}"


def turn(n: int) -> Turn:
    return Turn.of(f"req_{n}", user=f"question {n}", assistant=f"answer {n}")


def key(session_id: str) -> str:
    return f"session:{{{session_id}}}:turns"


async def test_history_is_oldest_first_and_capped_to_the_last_turns(client: Redis) -> None:
    store = RedisSessionStore(client, max_turns=3, ttl_s=60)
    sid = new_session()
    for n in range(5):
        await store.append(sid, turn(n))
    assert await store.history(sid) == [turn(2), turn(3), turn(4)]
    assert await client.llen(key(sid)) == 3


async def test_every_append_refreshes_the_ttl(client: Redis) -> None:
    store = RedisSessionStore(client, max_turns=3, ttl_s=120)
    sid = new_session()
    await store.append(sid, turn(1))
    assert 0 < await client.ttl(key(sid)) <= 120
    await client.expire(key(sid), 5)  # as if time had passed
    await store.append(sid, turn(2))
    assert 5 < await client.ttl(key(sid)) <= 120


async def test_a_session_expires_as_a_whole(client: Redis) -> None:
    store = RedisSessionStore(client, max_turns=3, ttl_s=60)
    sid = new_session()
    await store.append(sid, turn(1))
    await client.delete(key(sid))  # what the TTL does when it runs out
    assert await store.history(sid) == []


async def test_a_corrupt_entry_is_skipped_and_logged(client: Redis, caplog: pytest.LogCaptureFixture) -> None:
    store = RedisSessionStore(client, max_turns=5, ttl_s=60)
    sid = new_session()
    await store.append(sid, turn(1))
    await client.rpush(key(sid), b"{not json", b'{"request_id": "r"}')
    await store.append(sid, turn(2))
    with caplog.at_level("WARNING", logger="agent.sessions"):
        assert await store.history(sid) == [turn(1), turn(2)]
    assert sum("unreadable turn" in r.getMessage() for r in caplog.records) == 2


async def test_concurrent_appends_from_two_replicas_keep_both_caps(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    stores = [RedisSessionStore(c, max_turns=4, ttl_s=60, max_tokens=40) for c in clients]
    sid = new_session()
    appends = (stores[n % 2].append(sid, Turn.of(f"req_{n}", user="x" * 40, assistant="")) for n in range(20))
    await asyncio.gather(*appends)  # 10 tokens each: the token cap binds at 4 turns, so does the turn cap
    history = await stores[0].history(sid)
    assert len(history) == 4 and sum(t.tokens for t in history) == 40
    for c in clients:
        await c.aclose()
