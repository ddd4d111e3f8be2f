"""The run store's contract, one suite for every implementation (memory and Redis): a
subclass per implementation provides two replicas' stores over one backend and reads
what the backend keeps (a lease's owner and TTL, a state's TTL), the way FastStream
subclasses `tests/brokers/base/` per broker."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from agent_common.messages import ChatRequested
from agent_common.run_store import ClaimResult, RunStore, SessionTurn

# The keys the orchestrator leases work under (`agent_orchestrator.ownership.claims`).


def run_key(request: ChatRequested) -> str:
    return f"chat:{request.message_id}"


def step_key(request_id: str, step: int) -> str:
    return f"step:{request_id}:{step}"


def new_rid() -> str:
    return f"req_{uuid.uuid4().hex}"


def state_json(rid: str) -> str:
    """A run's state as the orchestrator saves it (the store keeps it as an opaque string)."""
    return (
        f'{{"request_id":"{rid}","session_id":"ses_1","user_id":"u","user_message":"hi",'
        f'"deadline_at":{time.time() + 60},"messages":[{{"role":"user","content":"hi"}}],"step":1,'
        '"answer":"so far","pending":[{"call_id":"c1","tool":"http_get","arguments":{"url":"http://127.0.0.1/"}}]}'
    )


def request(session_id: str | None = None) -> ChatRequested:
    return ChatRequested(
        request_id=new_rid(),
        session_id=session_id or f"ses_{uuid.uuid4().hex[:12]}",
        user_id="u",
        message="hi",
        deadline_at=time.time() + 60,
    )


async def claim(store: RunStore, msg: ChatRequested, owner: str, lease_s: float) -> ClaimResult:
    """What the orchestrator claims for a chat request: its run, kept for a takeover, and its session's turn."""
    turn = SessionTurn(msg.session_id, msg.request_id)
    return await store.claims.claim(run_key(msg), msg.model_dump_json(), owner, lease_s, 60, turn)


class RunStoreContract:
    """Subclasses set `replicas` (two stores over one backend, as two replicas' clients) and
    implement the readers of what the backend keeps."""

    replicas: tuple[RunStore, RunStore]

    @pytest.fixture(autouse=True)
    async def _stores(self) -> None:
        raise NotImplementedError

    async def lease_owner(self, key: str) -> str | None:
        raise NotImplementedError

    async def lease_ttl_ms(self, key: str) -> int:
        raise NotImplementedError

    async def payload_kept(self, key: str) -> bool:
        raise NotImplementedError

    async def forget_lease(self, key: str) -> None:
        """The lease vanishes (Redis restarted empty, say)."""
        raise NotImplementedError

    async def state_ttl_ms(self, request_id: str) -> int:
        raise NotImplementedError

    async def state_kept(self, request_id: str) -> bool:
        raise NotImplementedError

    async def results_ttl_ms(self, request_id: str, step: int) -> int:
        raise NotImplementedError

    @property
    def store(self) -> RunStore:
        return self.replicas[0]

    async def test_a_run_is_claimed_once_held_while_live_and_done_when_finished(self) -> None:
        claims = self.store.claims
        msg = request()
        key = run_key(msg)
        assert await claims.claimed(key) is False
        assert await claim(self.store, msg, "replica-a", 30) is ClaimResult.TAKEN
        assert await claims.claimed(key) is True
        assert await claim(self.store, msg, "replica-b", 30) is ClaimResult.HELD
        assert 0 < await self.lease_ttl_ms(key) <= 30_000
        assert await claims.renew(key, "replica-b", 30) is False  # not b's to renew
        assert await claims.renew(key, "replica-a", 30) is True
        await claims.finish(key, 3600)
        assert await claim(self.store, msg, "replica-b", 30) is ClaimResult.DONE
        assert await claims.claimed(key) is True  # done is still taken: nobody else will start it
        assert await claims.renew(key, "replica-a", 30) is False  # done is nobody's
        assert await self.payload_kept(key) is False  # nothing left to take over

    async def test_concurrent_claims_from_two_replicas_have_one_taker(self) -> None:
        msg = request()
        results = await asyncio.gather(*(claim(self.replicas[i % 2], msg, f"r{i}", 30) for i in range(20)))
        assert results.count(ClaimResult.TAKEN) == 1 and results.count(ClaimResult.HELD) == 19

    async def test_a_sessions_next_request_waits_for_the_turn_before_it_to_end(self) -> None:
        store = self.store
        first, second = request("ses_turns"), request("ses_turns")
        assert await claim(store, first, "replica-a", 30) is ClaimResult.TAKEN
        assert await claim(store, second, "replica-b", 30) is ClaimResult.SESSION_BUSY
        # Its lease is done, but its tools may still run: the turn is its.
        await store.claims.finish(run_key(first), 3600)
        assert await claim(store, second, "replica-b", 30) is ClaimResult.SESSION_BUSY
        await store.claims.end_turn("ses_turns", second.request_id)  # not the holder's: nothing changes
        assert await claim(store, second, "replica-b", 30) is ClaimResult.SESSION_BUSY
        await store.claims.end_turn("ses_turns", first.request_id)
        assert await claim(store, second, "replica-b", 30) is ClaimResult.TAKEN

    async def test_each_run_whose_lease_ran_out_is_taken_over_by_exactly_one_replica(self) -> None:
        replicas = self.replicas
        dead, live, done = [request() for _ in range(6)], request(), request()
        for msg in dead:
            assert await claim(replicas[0], msg, "dead-replica", 0.05) is ClaimResult.TAKEN
        await claim(replicas[0], live, "live-replica", 30)
        await claim(replicas[0], done, "dead-replica", 0.05)
        await replicas[0].claims.finish(run_key(done), 3600)
        await asyncio.sleep(0.1)  # the dead replica's leases run out
        taken = await asyncio.gather(*(replicas[i % 2].claims.take_expired(f"r{i}", 30, limit=2) for i in range(8)))
        flat = [key for batch in taken for key, _ in batch]
        assert sorted(flat) == sorted(run_key(msg) for msg in dead)  # each once; never a live or a done one
        payloads = {key: payload for batch in taken for key, payload in batch}
        assert ChatRequested.model_validate_json(payloads[run_key(dead[0])]) == dead[0]  # what a takeover restarts
        assert await replicas[0].claims.take_expired("r9", 30, limit=10) == []  # taken: leased again
        owner = await self.lease_owner(run_key(dead[0]))
        assert owner in {f"r{i}" for i in range(8)}

    async def test_an_abandoned_run_is_taken_over_at_once_and_a_vanished_lease_is_renewed(self) -> None:
        claims = self.store.claims
        msg = request()
        key = run_key(msg)
        await claim(self.store, msg, "stopping-replica", 30)
        await claims.abandon(key, "another-replica")  # not its lease: nothing happens
        assert key not in [k for k, _ in await claims.take_expired("sweeper", 30, limit=100)]
        await claims.abandon(key, "stopping-replica")
        assert key in [k for k, _ in await claims.take_expired("sweeper", 30, limit=100)]
        await self.forget_lease(key)  # Redis restarted empty, say: the runner takes it back
        assert await claims.renew(key, "sweeper", 30) is True
        assert await self.lease_owner(key) == "sweeper"

    async def test_a_step_is_claimed_without_a_session_turn_and_taken_over_like_a_run(self) -> None:
        claims = self.store.claims
        msg = request("ses_step")
        assert await claim(self.store, msg, "replica-a", 30) is ClaimResult.TAKEN  # the run holds the session's turn
        key = step_key(msg.request_id, 1)
        assert await claims.claim(key, '{"request_id": "r", "step": 1}', "replica-b", 0.05, 60) is ClaimResult.TAKEN
        assert await claims.claim(key, "{}", "replica-c", 30, 60) is ClaimResult.HELD
        await asyncio.sleep(0.1)
        assert await claims.take_expired("sweeper", 30, limit=10) == [(key, '{"request_id": "r", "step": 1}')]

    async def test_each_due_deadline_goes_to_exactly_one_replica(self) -> None:
        replicas = self.replicas
        rids = [new_rid() for _ in range(10)]
        now = time.time()
        for n, rid in enumerate(rids):
            await replicas[0].deadlines.schedule(rid, 1, now - 1 if n < 6 else now + 60)
        taken = await asyncio.gather(*(replicas[i % 2].deadlines.take_due(now, limit=2) for i in range(8)))
        flat = [item for batch in taken for item in batch]
        assert sorted(flat) == sorted((rid, 1) for rid in rids[:6])  # each due one once; none of the future ones

    async def test_state_round_trips_with_a_ttl_and_unknown_is_none(self) -> None:
        states = self.store.states
        rid = new_rid()
        saved = state_json(rid)
        await states.save(rid, saved, 45)
        assert await states.load(rid) == saved
        assert 0 < await self.state_ttl_ms(rid) <= 45_000
        assert await states.load(new_rid()) is None

    async def test_a_duplicate_result_is_recognised_and_never_completes(self) -> None:
        results = self.store.tool_results
        rid = new_rid()
        assert await results.record(rid, 1, "c1", '{"ok": true}', 2, 30) == (True, False)
        assert await results.record(rid, 1, "c1", '{"ok": false}', 2, 30) == (False, False)
        assert await results.record(rid, 1, "c2", '{"ok": true}', 2, 30) == (True, True)
        assert await results.record(rid, 1, "c2", '{"again": 1}', 2, 30) == (False, False)
        assert await results.of_step(rid, 1) == {"c1": '{"ok": true}', "c2": '{"ok": true}'}
        assert 0 < await self.results_ttl_ms(rid, 1) <= 30_000

    async def test_each_step_counts_its_own_results(self) -> None:
        """A second tool step (even one reusing a call id) completes on its own results."""
        results = self.store.tool_results
        rid = new_rid()
        assert await results.record(rid, 1, "c1", "{}", 2, 30) == (True, False)
        assert await results.record(rid, 1, "c2", "{}", 2, 30) == (True, True)
        assert await results.record(rid, 2, "c1", '{"step": 2}', 1, 30) == (True, True)
        assert await results.of_step(rid, 2) == {"c1": '{"step": 2}'}

    async def test_exactly_one_recorder_completes_however_results_interleave(self) -> None:
        """3 results per step, each delivered to both replicas (a redelivery), all at once."""
        rng = random.Random(7)
        for _ in range(100):
            rid = new_rid()
            deliveries = [(self.replicas[r], f"c{n}") for n in range(3) for r in (0, 1)]
            rng.shuffle(deliveries)
            outcomes = await asyncio.gather(
                *(store.tool_results.record(rid, 1, call, f'{{"call": "{call}"}}', 3, 30) for store, call in deliveries)
            )
            assert [new for new, _ in outcomes].count(True) == 3
            assert [completes for _, completes in outcomes].count(True) == 1
            assert all(new for new, completes in outcomes if completes)
            recorded = await self.replicas[0].tool_results.of_step(rid, 1)
            assert recorded == {f"c{n}": f'{{"call": "c{n}"}}' for n in range(3)}

    async def test_delete_forgets_the_state(self) -> None:
        states = self.store.states
        rid = new_rid()
        await states.save(rid, state_json(rid), 30)
        await states.delete(rid)
        assert await states.load(rid) is None
        assert await self.state_kept(rid) is False
        await states.delete(rid)  # deleting twice is fine

    async def test_ping(self) -> None:
        assert await self.store.ping() is True
