"""The run-event channel's contract, in memory and over Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_common.run_events import MemoryRunEventChannel, RunEventChannel
from agent_common.run_events.redis import RedisRunEventChannel
from tests.contracts.run_event_channel import RunEventChannelContract


class TestMemoryRunEventChannel(RunEventChannelContract):
    @pytest.fixture
    async def channel(self) -> AsyncIterator[RunEventChannel]:
        channel = MemoryRunEventChannel()
        await channel.start()
        yield channel
        await channel.stop()


@pytest.mark.redis
class TestRedisRunEventChannel(RunEventChannelContract):
    @pytest.fixture
    async def channel(self, redis_client: Redis) -> AsyncIterator[RunEventChannel]:
        channel = RedisRunEventChannel(redis_client)
        await channel.start()
        yield channel
        await channel.stop()
