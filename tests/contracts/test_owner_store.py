"""The owner store's contract, in memory and in Redis."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from agent_common.sessions.owners import MemoryOwnerStore, OwnerStore
from agent_common.sessions.owners.redis import RedisOwnerStore
from tests.contracts.owner_store import OwnerStoreContract, new_id


class TestMemoryOwnerStore(OwnerStoreContract):
    @pytest.fixture
    def owners(self) -> OwnerStore:
        return MemoryOwnerStore()


@pytest.mark.redis
class TestRedisOwnerStore(OwnerStoreContract):
    @pytest.fixture
    def owners(self, redis_client: Redis) -> OwnerStore:
        return RedisOwnerStore(redis_client)

    async def test_a_claim_after_redis_forgot_its_scripts_is_made_and_listed(
        self, owners: OwnerStore, redis_client: Redis
    ) -> None:
        alice = f"t/alice-{uuid.uuid4().hex}"
        first, second = new_id(), new_id()
        await owners.claim("session", first, alice, 60)  # the scripts loaded
        await redis_client.script_flush()  # as a restart without persistence would
        assert await owners.claim_new("session", second, alice, 60) is True
        assert await owners.claim("session", first, alice, 60) is True
        assert {o.item_id for o in await owners.owned("session", alice)} == {first, second}
