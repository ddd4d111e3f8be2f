"""The `OwnerStore` contract, run against every implementation (`test_owner_store.py`)."""

from __future__ import annotations

import asyncio
import uuid

from agent_common.sessions.owners import OwnerStore


def new_id() -> str:
    return f"ses_{uuid.uuid4().hex}"


class OwnerStoreContract:
    """Subclasses provide the `owners` fixture: the store under test."""

    async def test_the_first_claim_owns_and_the_owner_may_claim_again(self, owners: OwnerStore) -> None:
        sid = new_id()
        assert await owners.claim("session", sid, "t/alice", 60) is True
        assert await owners.claim("session", sid, "t/alice", 60) is True
        assert await owners.owner_of("session", sid) == "t/alice"
        assert await owners.owned_by("session", sid, "t/alice") is True

    async def test_someone_else_is_refused(self, owners: OwnerStore) -> None:
        sid = new_id()
        await owners.claim("session", sid, "t/alice", 60)
        assert await owners.claim("session", sid, "t/bob", 60) is False
        assert await owners.owned_by("session", sid, "t/bob") is False
        assert await owners.owner_of("session", sid) == "t/alice"

    async def test_an_unknown_id_has_no_owner(self, owners: OwnerStore) -> None:
        assert await owners.owner_of("run", new_id()) is None
        assert await owners.owned_by("run", new_id(), "t/alice") is False

    async def test_a_new_id_is_claimed_once_even_by_its_owner(self, owners: OwnerStore) -> None:
        rid = new_id()
        assert await owners.claim_new("run", rid, "t/alice", 60) is True
        assert await owners.claim_new("run", rid, "t/alice", 60) is False
        assert await owners.claim_new("run", rid, "t/bob", 60) is False
        assert await owners.owner_of("run", rid) == "t/alice"

    async def test_runs_are_owned_but_never_listed(self, owners: OwnerStore) -> None:
        alice = f"t/alice-{uuid.uuid4().hex}"
        claimed, named = new_id(), new_id()
        assert await owners.claim("run", claimed, alice, 60) is True
        assert await owners.claim_new("run", named, alice, 60) is True
        assert await owners.owned_by("run", claimed, alice) and await owners.owned_by("run", named, alice)
        assert await owners.owned("run", alice) == []

    async def test_sessions_and_runs_are_kept_apart(self, owners: OwnerStore) -> None:
        same = new_id()
        await owners.claim("session", same, "t/alice", 60)
        assert await owners.owner_of("run", same) is None
        assert await owners.claim("run", same, "t/bob", 60) is True

    async def test_an_owner_record_expires(self, owners: OwnerStore) -> None:
        sid = new_id()
        await owners.claim("session", sid, "t/alice", 0.05)
        await asyncio.sleep(0.15)
        assert await owners.owner_of("session", sid) is None
        assert await owners.claim("session", sid, "t/bob", 60) is True

    async def test_an_owners_sessions_are_listed_newest_first_and_only_theirs(self, owners: OwnerStore) -> None:
        alice, bob = f"t/alice-{uuid.uuid4().hex}", f"t/bob-{uuid.uuid4().hex}"
        first, second, bobs = new_id(), new_id(), new_id()
        await owners.claim("session", first, alice, 60)
        await asyncio.sleep(0.01)
        await owners.claim_new("session", second, alice, 60)
        await owners.claim("session", bobs, bob, 60)
        assert await owners.claim("session", bobs, alice, 60) is False  # refused: never listed as alice's
        assert [o.item_id for o in await owners.owned("session", alice)] == [second, first]
        await asyncio.sleep(0.01)
        await owners.claim("session", first, alice, 60)  # a new turn moves it to the top
        listed = await owners.owned("session", alice)
        assert [o.item_id for o in listed] == [first, second]
        assert listed[0].claimed_at > listed[1].claimed_at
        assert await owners.owned("run", alice) == []

    async def test_an_expired_session_leaves_its_owners_list(self, owners: OwnerStore) -> None:
        alice = f"t/alice-{uuid.uuid4().hex}"
        short, kept = new_id(), new_id()
        await owners.claim("session", short, alice, 0.05)
        await owners.claim("session", kept, alice, 60)
        await asyncio.sleep(0.15)
        assert [o.item_id for o in await owners.owned("session", alice)] == [kept]
