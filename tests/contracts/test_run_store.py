"""The run store's contract (`run_store.py`) over each implementation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_common.run_store import MemoryRunStore
from agent_common.run_store.memory import MemoryRunClaims, MemoryRunStates, MemoryToolResults
from agent_common.run_store.redis import RedisRunStore
from tests.contracts.run_store import RunStoreContract


def _left_ms(expiry: float) -> int:
    return int((expiry - time.monotonic()) * 1000)


class TestMemoryRunStore(RunStoreContract):
    @pytest.fixture(autouse=True)
    async def _stores(self) -> None:
        shared = MemoryRunStore()  # one process: both "replicas" hold the same store
        self.replicas = (shared, shared)

    @property
    def _claims(self) -> MemoryRunClaims:
        assert isinstance(self.store.claims, MemoryRunClaims)
        return self.store.claims

    async def lease_owner(self, key: str) -> str | None:
        held = self._claims._leases.get(key)
        return held[1] if held else None

    async def lease_ttl_ms(self, key: str) -> int:
        return _left_ms(self._claims._leases[key][0])

    async def payload_kept(self, key: str) -> bool:
        return key in self._claims._payloads

    async def forget_lease(self, key: str) -> None:
        del self._claims._leases[key]

    async def state_ttl_ms(self, request_id: str) -> int:
        assert isinstance(self.store.states, MemoryRunStates)
        return _left_ms(self.store.states._states[request_id][0])

    async def state_kept(self, request_id: str) -> bool:
        assert isinstance(self.store.states, MemoryRunStates)
        return request_id in self.store.states._states

    async def results_ttl_ms(self, request_id: str, step: int) -> int:
        assert isinstance(self.store.tool_results, MemoryToolResults)
        return _left_ms(self.store.tool_results._results[(request_id, step)][0])


@pytest.mark.redis
class TestRedisRunStore(RunStoreContract):
    client: Redis

    @pytest.fixture(autouse=True)
    async def _stores(self, redis_url: str) -> AsyncIterator[None]:  # type: ignore[override]
        """Two replicas' clients (two connection pools) on a database of their own: the lease
        index and the deadlines are shared by every orchestrator on a Redis, and a run left
        claimed here must not reach another test's sweep."""
        c1, c2 = (Redis.from_url(redis_url.rsplit("/", 1)[0] + "/8") for _ in range(2))
        await c1.flushdb()
        self.client = c1
        self.replicas = (RedisRunStore(c1), RedisRunStore(c2))
        yield
        await c1.flushdb()
        await c1.aclose()
        await c2.aclose()

    async def lease_owner(self, key: str) -> str | None:
        owner = await self.client.get(f"lease:{{{key}}}")
        return None if owner is None else owner.decode()

    async def lease_ttl_ms(self, key: str) -> int:
        return int(await self.client.pttl(f"lease:{{{key}}}"))

    async def payload_kept(self, key: str) -> bool:
        return bool(await self.client.exists(f"lease:{{{key}}}:payload"))

    async def forget_lease(self, key: str) -> None:
        await self.client.delete(f"lease:{{{key}}}")

    async def state_ttl_ms(self, request_id: str) -> int:
        return int(await self.client.pttl(f"run:{{{request_id}}}:state"))

    async def state_kept(self, request_id: str) -> bool:
        return bool(await self.client.exists(f"run:{{{request_id}}}:state"))

    async def results_ttl_ms(self, request_id: str, step: int) -> int:
        return int(await self.client.pttl(f"run:{{{request_id}}}:results:{step}"))
