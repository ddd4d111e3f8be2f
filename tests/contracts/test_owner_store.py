"""The owner store's contract, in memory and in Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from agent_common.sessions.owners import MemoryOwnerStore, OwnerStore
from agent_common.sessions.owners.redis import RedisOwnerStore
from tests.contracts.owner_store import OwnerStoreContract


class TestMemoryOwnerStore(OwnerStoreContract):
    @pytest.fixture
    def owners(self) -> OwnerStore:
        return MemoryOwnerStore()


@pytest.mark.redis
class TestRedisOwnerStore(OwnerStoreContract):
    @pytest.fixture
    def owners(self, redis_client: Redis) -> OwnerStore:
        return RedisOwnerStore(redis_client)
