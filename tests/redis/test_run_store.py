"""The Redis run store keeps the RunStore contract over a real Redis, across replicas."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_common.messages import ChatRequested
from agent_orchestrator.runs import Lease, SessionTurn, run_key, step_key
from agent_orchestrator.runs.redis import DEADLINES_KEY, RedisRunStore
from agent_orchestrator.runs.state import PendingCall, RunState

pytestmark = pytest.mark.redis


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisRunStore, RedisRunStore]]:
    """Two orchestrator replicas: two clients, two connection pools."""
    c1, c2 = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield RedisRunStore(c1), RedisRunStore(c2)
    await c1.aclose()
    await c2.aclose()


def new_rid() -> str:
    return f"req_{uuid.uuid4().hex}"


def state(rid: str) -> RunState:
    return RunState(
        request_id=rid,
        session_id="ses_1",
        user_id="u",
        user_message="hi",
        deadline_at=time.time() + 60,
        messages=[{"role": "user", "content": "hi"}],
        step=1,
        answer="so far",
        pending=[PendingCall(call_id="c1", tool="http_get", arguments={"url": "http://127.0.0.1/"})],
    )


@pytest.fixture
async def own_db(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two replicas' clients on a database of their own: the lease index is shared by every
    orchestrator on a Redis, and a run left claimed here must not reach another test's sweep."""
    c1, c2 = (Redis.from_url(redis_url.rsplit("/", 1)[0] + "/8") for _ in range(2))
    await c1.flushdb()
    yield c1, c2
    await c1.flushdb()
    await c1.aclose()
    await c2.aclose()


def request(session_id: str | None = None) -> ChatRequested:
    return ChatRequested(
        request_id=new_rid(),
        session_id=session_id or f"ses_{uuid.uuid4().hex[:12]}",
        user_id="u",
        message="hi",
        deadline_at=time.time() + 60,
    )


async def claim(store: RedisRunStore, msg: ChatRequested, owner: str, lease_s: float) -> Lease:
    """What the hand-off claims for a chat request: its run, kept for a takeover, and its session's turn."""
    turn = SessionTurn(msg.session_id, msg.request_id)
    return await store.claim(run_key(msg), msg.model_dump_json(), owner, lease_s, 60, turn)


async def test_a_run_is_claimed_once_held_while_live_and_done_when_finished(own_db: tuple[Redis, Redis]) -> None:
    client = own_db[0]
    store = RedisRunStore(client)
    msg = request()
    key = run_key(msg)
    assert await claim(store, msg, "replica-a", 30) is Lease.TAKEN
    assert await claim(store, msg, "replica-b", 30) is Lease.HELD
    assert 0 < await client.pttl(f"lease:{{{key}}}") <= 30_000
    assert await store.renew(key, "replica-b", 30) is False  # not b's to renew
    assert await store.renew(key, "replica-a", 30) is True
    await store.finish(key, 3600)
    assert await claim(store, msg, "replica-b", 30) is Lease.DONE
    assert await store.renew(key, "replica-a", 30) is False  # done is nobody's
    assert await client.exists(f"lease:{{{key}}}:payload") == 0  # nothing left to take over


async def test_concurrent_claims_from_two_replicas_have_one_taker(own_db: tuple[Redis, Redis]) -> None:
    replicas = RedisRunStore(own_db[0]), RedisRunStore(own_db[1])
    msg = request()
    results = await asyncio.gather(*(claim(replicas[i % 2], msg, f"r{i}", 30) for i in range(20)))
    assert results.count(Lease.TAKEN) == 1 and results.count(Lease.HELD) == 19


async def test_a_sessions_next_request_waits_for_the_turn_before_it_to_end(own_db: tuple[Redis, Redis]) -> None:
    store = RedisRunStore(own_db[0])
    first, second = request("ses_turns"), request("ses_turns")
    assert await claim(store, first, "replica-a", 30) is Lease.TAKEN
    assert await claim(store, second, "replica-b", 30) is Lease.SESSION_BUSY
    await store.finish(run_key(first), 3600)  # its lease is done, but its tools may still run: the turn is its
    assert await claim(store, second, "replica-b", 30) is Lease.SESSION_BUSY
    await store.end_turn("ses_turns", second.request_id)  # not the holder's: nothing changes
    assert await claim(store, second, "replica-b", 30) is Lease.SESSION_BUSY
    await store.end_turn("ses_turns", first.request_id)
    assert await claim(store, second, "replica-b", 30) is Lease.TAKEN


async def test_each_run_whose_lease_ran_out_is_taken_over_by_exactly_one_replica(
    own_db: tuple[Redis, Redis],
) -> None:
    c1, c2 = own_db
    replicas = RedisRunStore(c1), RedisRunStore(c2)
    dead, live, done = [request() for _ in range(6)], request(), request()
    for msg in dead:
        assert await claim(replicas[0], msg, "dead-replica", 0.05) is Lease.TAKEN
    await claim(replicas[0], live, "live-replica", 30)
    await claim(replicas[0], done, "dead-replica", 0.05)
    await replicas[0].finish(run_key(done), 3600)
    await asyncio.sleep(0.1)  # the dead replica's leases run out
    taken = await asyncio.gather(*(replicas[i % 2].take_expired(f"r{i}", 30, limit=2) for i in range(8)))
    flat = [key for batch in taken for key, _ in batch]
    assert sorted(flat) == sorted(run_key(msg) for msg in dead)  # each once; never a live or a done one
    payloads = {key: payload for batch in taken for key, payload in batch}
    assert ChatRequested.model_validate_json(payloads[run_key(dead[0])]) == dead[0]  # what a takeover restarts
    assert await replicas[0].take_expired("r9", 30, limit=10) == []  # taken: leased again
    owner = await c1.get(f"lease:{{{run_key(dead[0])}}}")
    assert owner in {f"r{i}".encode() for i in range(8)}


async def test_an_abandoned_run_is_taken_over_at_once_and_a_vanished_lease_is_renewed(
    own_db: tuple[Redis, Redis],
) -> None:
    client = own_db[0]
    store = RedisRunStore(client)
    msg = request()
    key = run_key(msg)
    await claim(store, msg, "stopping-replica", 30)
    await store.abandon(key, "another-replica")  # not its lease: nothing happens
    assert key not in [k for k, _ in await store.take_expired("sweeper", 30, limit=100)]
    await store.abandon(key, "stopping-replica")
    assert key in [k for k, _ in await store.take_expired("sweeper", 30, limit=100)]
    await client.delete(f"lease:{{{key}}}")  # Redis restarted empty, say: the runner takes it back
    assert await store.renew(key, "sweeper", 30) is True
    assert await client.get(f"lease:{{{key}}}") == b"sweeper"


async def test_a_step_is_claimed_without_a_session_turn_and_taken_over_like_a_run(own_db: tuple[Redis, Redis]) -> None:
    store = RedisRunStore(own_db[0])
    msg = request("ses_step")
    assert await claim(store, msg, "replica-a", 30) is Lease.TAKEN  # the run holds the session's turn
    key = step_key(msg.request_id, 1)
    assert await store.claim(key, '{"request_id": "r", "step": 1}', "replica-b", 0.05, 60) is Lease.TAKEN
    assert await store.claim(key, "{}", "replica-c", 30, 60) is Lease.HELD
    await asyncio.sleep(0.1)
    assert await store.take_expired("sweeper", 30, limit=10) == [(key, '{"request_id": "r", "step": 1}')]


async def test_each_due_deadline_goes_to_exactly_one_replica(redis_url: str) -> None:
    # A database of its own: the set of deadlines is shared by every orchestrator on a Redis.
    c1, c2 = (Redis.from_url(redis_url.rsplit("/", 1)[0] + "/7") for _ in range(2))
    await c1.delete(DEADLINES_KEY)
    replicas = RedisRunStore(c1), RedisRunStore(c2)
    rids = [new_rid() for _ in range(10)]
    now = time.time()
    for n, rid in enumerate(rids):
        await replicas[0].schedule_deadline(rid, 1, now - 1 if n < 6 else now + 60)
    taken = await asyncio.gather(*(replicas[i % 2].take_due_deadlines(now, limit=2) for i in range(8)))
    flat = [item for batch in taken for item in batch]
    assert sorted(flat) == sorted((rid, 1) for rid in rids[:6])  # each due one once; none of the future ones
    await c1.aclose()
    await c2.aclose()


async def test_state_round_trips_with_a_ttl_and_unknown_is_none(client: Redis) -> None:
    store = RedisRunStore(client)
    rid = new_rid()
    saved = state(rid)
    await store.save(saved, 45)
    assert await store.load(rid) == saved
    assert 0 < await client.pttl(f"run:{{{rid}}}:state") <= 45_000
    assert await store.load(new_rid()) is None


async def test_an_unreadable_state_is_treated_as_gone(client: Redis) -> None:
    rid = new_rid()
    await client.set(f"run:{{{rid}}}:state", b"{broken")
    assert await RedisRunStore(client).load(rid) is None


async def test_a_duplicate_result_is_recognised_and_never_completes(client: Redis) -> None:
    store = RedisRunStore(client)
    rid = new_rid()
    assert await store.record_tool_result(rid, 1, "c1", '{"ok": true}', 2, 30) == (True, False)
    assert await store.record_tool_result(rid, 1, "c1", '{"ok": false}', 2, 30) == (False, False)
    assert await store.record_tool_result(rid, 1, "c2", '{"ok": true}', 2, 30) == (True, True)
    assert await store.record_tool_result(rid, 1, "c2", '{"again": 1}', 2, 30) == (False, False)
    assert await store.tool_results(rid, 1) == {"c1": '{"ok": true}', "c2": '{"ok": true}'}
    assert 0 < await client.pttl(f"run:{{{rid}}}:results:1") <= 30_000


async def test_each_step_counts_its_own_results(client: Redis) -> None:
    """A second tool step (even one reusing a call id) completes on its own results."""
    store = RedisRunStore(client)
    rid = new_rid()
    assert await store.record_tool_result(rid, 1, "c1", "{}", 2, 30) == (True, False)
    assert await store.record_tool_result(rid, 1, "c2", "{}", 2, 30) == (True, True)
    assert await store.record_tool_result(rid, 2, "c1", '{"step": 2}', 1, 30) == (True, True)
    assert await store.tool_results(rid, 2) == {"c1": '{"step": 2}'}


async def test_exactly_one_recorder_completes_however_results_interleave(
    replicas: tuple[RedisRunStore, RedisRunStore],
) -> None:
    """3 results per step, each delivered to both replicas (a redelivery), all at once."""
    rng = random.Random(7)
    for _ in range(100):
        rid = new_rid()
        deliveries = [(replicas[r], f"c{n}") for n in range(3) for r in (0, 1)]
        rng.shuffle(deliveries)
        outcomes = await asyncio.gather(
            *(store.record_tool_result(rid, 1, call, f'{{"call": "{call}"}}', 3, 30) for store, call in deliveries)
        )
        assert [new for new, _ in outcomes].count(True) == 3
        assert [completes for _, completes in outcomes].count(True) == 1
        assert all(new for new, completes in outcomes if completes)
        assert await replicas[0].tool_results(rid, 1) == {f"c{n}": f'{{"call": "c{n}"}}' for n in range(3)}


async def test_delete_forgets_the_state(client: Redis) -> None:
    store = RedisRunStore(client)
    rid = new_rid()
    await store.save(state(rid), 30)
    await store.delete(rid)
    assert await store.load(rid) is None
    assert await client.exists(f"run:{{{rid}}}:state") == 0
    await store.delete(rid)  # deleting twice is fine


async def test_ping(client: Redis) -> None:
    assert await RedisRunStore(client).ping() is True
