"""The stream slots' contract, in memory and in Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from agent_common.rate_limits import MemoryStreamSlots, StreamSlots
from agent_common.rate_limits.redis import RedisStreamSlots
from tests.contracts.stream_slots import MakeStreamSlots, StreamSlotsContract


class TestMemoryStreamSlots(StreamSlotsContract):
    @pytest.fixture
    def make_slots(self) -> MakeStreamSlots:
        return MemoryStreamSlots


@pytest.mark.redis
class TestRedisStreamSlots(StreamSlotsContract):
    @pytest.fixture
    def make_slots(self, redis_client: Redis) -> MakeStreamSlots:
        def make(limit: int, lease_s: float) -> StreamSlots:
            return RedisStreamSlots(redis_client, limit, lease_s)

        return make
