"""The API-key store's contract, in a local file (the embedded default) and in Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from agent_common.auth import ApiKeyStore, FileApiKeyStore
from agent_common.auth.redis_store import RedisApiKeyStore
from tests.contracts.api_key_store import ApiKeyStoreContract


class TestFileApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def keys(self, tmp_path: Path) -> ApiKeyStore:
        return FileApiKeyStore(tmp_path / "keys.json")


@pytest.mark.redis
class TestRedisApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def keys(self, empty_redis_db: Redis) -> ApiKeyStore:
        return RedisApiKeyStore(empty_redis_db)
