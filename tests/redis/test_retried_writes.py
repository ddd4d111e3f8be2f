"""Every write on the Redis pool is safe to send twice: the pool rides through an outage by
sending a command again, and the attempt that failed may have been carried out (its reply
lost). Here the first reply of each write is lost after Redis carried the write out, and
what the caller is told, and what Redis holds, must be as if it had been sent once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_common.events import TokenEvent
from agent_common.rate_limits.redis import RedisStreamSlots
from agent_common.run_events.redis import RedisRunEventChannel
from agent_common.run_store import ClaimResult, SessionTurn
from agent_common.run_store.redis import RedisRunClaims, RedisToolDeadlines, RedisToolResults
from agent_common.sessions import Turn
from agent_common.sessions.owners.redis import RedisOwnerStore
from agent_common.sessions.redis import RedisSessionStore
from tests.redis.ride_through_helpers import lose_first_reply, outage_retries, pooled_client

pytestmark = pytest.mark.redis


@pytest.fixture
async def pooled(redis_url: str) -> AsyncIterator[Redis]:
    # A database of its own on the suite's Redis: the platforms the end-to-end tier keeps running for
    # the session sweep database 0's expired leases every second, and would take this module's first.
    client = pooled_client(redis_url.rsplit("/", 1)[0] + "/14")
    yield client
    await client.aclose()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


async def test_a_claim_whose_reply_was_lost_is_taken_not_held(pooled: Redis) -> None:
    claims, key, rid = RedisRunClaims(pooled), new_id("chat:msg"), new_id("req")
    lost = lose_first_reply(pooled, "EVAL")
    before = outage_retries()
    found = await claims.claim(key, "{}", "replica-a", 10, 60, SessionTurn(new_id("ses"), rid))
    assert lost == ["EVAL"]
    assert found is ClaimResult.TAKEN  # not HELD by "replica-a" itself: the run would never start
    assert outage_retries() == before + 1
    # A second claim by the same replica (a redelivery), not a repeat of the first, is still a duplicate.
    assert await claims.claim(key, "{}", "replica-a", 10, 60) is ClaimResult.HELD


async def test_work_taken_over_whose_reply_was_lost_is_still_the_takers(pooled: Redis) -> None:
    claims, key = RedisRunClaims(pooled), new_id("step:req")
    assert await claims.claim(key, '{"step": 1}', "the-replica-that-died", 0.05, 60) is ClaimResult.TAKEN
    await asyncio.sleep(0.1)  # its lease runs out
    lost = lose_first_reply(pooled, "EVAL")
    taken = await claims.take_expired("replica-b", 10, limit=100)
    assert lost == ["EVAL"]
    assert (key, '{"step": 1}') in taken


async def test_overdue_tool_deadlines_whose_reply_was_lost_are_still_the_takers(pooled: Redis) -> None:
    deadlines, rid = RedisToolDeadlines(pooled), new_id("req")
    await deadlines.schedule(rid, 1, time.time() - 1)
    lost = lose_first_reply(pooled, "EVAL")
    due = await deadlines.take_due(time.time(), limit=1000)
    assert lost == ["EVAL"]
    assert (rid, 1) in due


async def test_a_tool_result_whose_reply_was_lost_is_new_and_completes_its_step(pooled: Redis) -> None:
    results, rid = RedisToolResults(pooled), new_id("req")
    lost = lose_first_reply(pooled, "EVAL")
    assert await results.record(rid, 1, "call_1", '{"ok": true}', expected=1, ttl_s=60) == (True, True)
    assert lost == ["EVAL"]
    # A redelivery of the same result is still a duplicate.
    assert await results.record(rid, 1, "call_1", '{"ok": true}', expected=1, ttl_s=60) == (False, False)


async def test_a_session_turn_whose_reply_was_lost_is_kept_once(pooled: Redis) -> None:
    sessions, sid = RedisSessionStore(pooled, max_turns=10, ttl_s=60), new_id("ses")
    await sessions.append(sid, Turn.of("req_earlier", user="first", assistant="one"))
    lost = lose_first_reply(pooled, "EVAL")
    await sessions.append(sid, Turn.of("req_now", user="second", assistant="two"))
    assert lost == ["EVAL"]
    assert [t.request_id for t in await sessions.history(sid)] == ["req_earlier", "req_now"]


async def test_a_run_id_claimed_new_whose_reply_was_lost_is_the_callers_new_one(pooled: Redis) -> None:
    owners, rid = RedisOwnerStore(pooled), new_id("req")
    lost = lose_first_reply(pooled, "EVALSHA")
    assert await owners.claim_new("run", rid, "tenant/alice", 60) is True
    assert lost == ["EVALSHA"]
    assert await owners.claim_new("run", rid, "tenant/alice", 60) is False  # used now: a second claim is not new


async def test_the_last_stream_slot_whose_reply_was_lost_is_the_streams(pooled: Redis) -> None:
    slots, user = RedisStreamSlots(pooled, limit=1, lease_s=60), new_id("tenant/u")
    lost = lose_first_reply(pooled, "EVALSHA")
    assert await slots.acquire(user, "stream-1") is True  # not refused by the slot its first attempt took
    assert lost == ["EVALSHA"]
    assert await slots.acquire(user, "stream-2") is False


async def test_a_run_event_whose_reply_was_lost_is_buffered_and_published_once(pooled: Redis) -> None:
    channel, rid = RedisRunEventChannel(pooled), new_id("req")
    await channel.publish(TokenEvent(request_id=rid, text="a"))
    lost = lose_first_reply(pooled, "EVALSHA")
    stamped = await channel.publish(TokenEvent(request_id=rid, text="b"))
    assert lost == ["EVALSHA"]
    assert stamped.seq == 2
    assert [(e.seq, e.text) for e in await channel.replay(rid) if isinstance(e, TokenEvent)] == [(1, "a"), (2, "b")]
