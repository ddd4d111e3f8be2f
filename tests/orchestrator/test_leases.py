"""A replica's leases on its work: a lease another replica took stops the work quietly."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent_common.run_store import ClaimResult, MemoryRunStore
from agent_orchestrator.ownership import Leases, run_key
from tests.orchestrator.replicas import Replicas, chat


async def test_a_replica_whose_lease_was_taken_stops_streaming(model_url: str) -> None:
    r = Replicas(model_url, lease_s=0.15)
    await r.bus.start()
    try:
        request = chat("[[offline:slow]] a slow answer that takes a while to stream to its end")
        await r.background_runs[0].on_chat_requested(request)
        await asyncio.sleep(0.05)
        r.claims._leases[run_key(request)] = (time.monotonic() + 60, "another-replica")  # taken, as after a long stall
        await asyncio.wait_for(r.background_runs[0].drain(), 5)
        events = await r.events.replay(request.request_id)
    finally:
        await r.close()
    assert not any(e.type in ("done", "error") for e in events)  # the replica that owns the run ends it


async def test_a_lease_found_taken_cancels_its_work_and_the_block_ends_quietly() -> None:
    store = MemoryRunStore()
    leases = Leases(store.claims, "replica-a", lease_s=0.06)
    request = chat("mine")
    assert await leases.claim(request) is ClaimResult.TAKEN
    key = run_key(request)
    started = asyncio.Event()
    reached_the_end = False

    async def work() -> bool:
        nonlocal reached_the_end
        async with leases.held(key) as lease:
            started.set()
            await asyncio.sleep(5)  # a model call that stalls past the lease
            reached_the_end = True
        return lease.lost

    running = asyncio.create_task(work())
    await started.wait()
    assert await store.claims.claim(key, "{}", "replica-b", 60, 60) is ClaimResult.HELD
    await store.claims.abandon(key, "replica-a")  # as if it ran out
    await store.claims.claim(key, "{}", "replica-b", 60, 60)  # another replica has it now
    assert await asyncio.wait_for(running, 2) is True  # not cancelled: the block swallowed its own cancellation
    assert not reached_the_end
    assert not running.cancelled()
    assert await store.claims.renew(key, "replica-b", 60) is True  # still the other replica's, not marked done


async def test_work_cut_off_from_outside_frees_its_lease_for_a_takeover_at_once() -> None:
    store = MemoryRunStore()
    leases = Leases(store.claims, "replica-a", lease_s=10)
    request = chat("cut off")
    assert await leases.claim(request) is ClaimResult.TAKEN
    started = asyncio.Event()

    async def work() -> None:
        async with leases.held(run_key(request)):
            started.set()
            await asyncio.sleep(5)

    running = asyncio.create_task(work())
    await started.wait()
    running.cancel()  # the end of a shutdown's drain
    with pytest.raises(asyncio.CancelledError):
        await running
    taken = await Leases(store.claims, "replica-b", lease_s=10).take_expired(limit=10)
    assert taken == [request]
