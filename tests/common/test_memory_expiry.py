"""The embedded default's stores keep what has not expired without walking all they keep on every call:
a turn's cost must not grow with the runs and sessions of the kept window."""

from __future__ import annotations

from typing import Any

from agent_common.run_store import SessionTurn
from agent_common.run_store.memory import MemoryRunClaims
from agent_common.sessions import Turn
from agent_common.sessions.memory import MemorySessionStore
from agent_common.sessions.owners import MemoryOwnerStore

KEPT = 1000  # finished runs, sessions and owners of the kept window
TURNS = 50  # calls within one second


class CountedWalks(dict[Any, Any]):
    """A dict that counts the walks over all its entries."""

    walks = 0

    def items(self) -> Any:
        self.walks += 1
        return super().items()


async def test_claiming_runs_does_not_walk_every_kept_run() -> None:
    claims = MemoryRunClaims()
    for n in range(KEPT):
        await claims.claim(f"chat:done-{n}", "{}", "replica-1", 60, 3600)
        await claims.finish(f"chat:done-{n}", 3600)
    claims._leases = leases = CountedWalks(claims._leases)
    for n in range(TURNS):
        turn = SessionTurn(session_id=f"ses_{n}", request_id=f"req_{n}")
        await claims.claim(f"chat:new-{n}", "{}", "replica-1", 60, 3600, turn)
        await claims.renew(f"chat:new-{n}", "replica-1", 60)
    assert leases.walks <= 1  # one sweep a second at most, however many claims


async def test_an_expired_lease_is_gone_at_once_between_sweeps() -> None:
    claims = MemoryRunClaims()
    await claims.claim("chat:a", "{}", "replica-1", 60, 3600)  # the first call sweeps
    claims._leases["chat:a"] = (0.0, "replica-1")  # its lease ran out since
    assert await claims.claimed("chat:a") is False
    assert await claims.take_expired("replica-2", 60, 10) == [("chat:a", "{}")]


async def test_owners_and_sessions_are_not_walked_on_every_turn() -> None:
    owners, sessions = MemoryOwnerStore(), MemorySessionStore(max_turns=10, ttl_s=3600)
    for n in range(KEPT):
        await owners.claim("session", f"ses_{n}", "t/alice", 3600)
    owners._owners = owned = CountedWalks(owners._owners)
    sessions._sessions = kept = CountedWalks(sessions._sessions)
    for n in range(TURNS):
        await owners.claim("run", f"req_{n}", "t/alice", 3600)
        await sessions.append(f"ses_{n}", Turn(request_id=f"req_{n}", user="hi", assistant="hello"))
    assert owned.walks <= 1 and kept.walks <= 1
