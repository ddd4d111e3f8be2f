"""The session store's contract, in memory and in Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from agent_common.sessions import MemorySessionStore
from agent_common.sessions.redis import RedisSessionStore
from tests.contracts.session_store import MakeSessionStore, SessionStoreContract


class TestMemorySessionStore(SessionStoreContract):
    @pytest.fixture
    def make_store(self) -> MakeSessionStore:
        return MemorySessionStore


@pytest.mark.redis
class TestRedisSessionStore(SessionStoreContract):
    @pytest.fixture
    def make_store(self, redis_client: Redis) -> MakeSessionStore:
        def make(*, max_turns: int, ttl_s: float, max_tokens: int | None = None) -> RedisSessionStore:
            return RedisSessionStore(redis_client, max_turns=max_turns, ttl_s=ttl_s, max_tokens=max_tokens)

        return make
