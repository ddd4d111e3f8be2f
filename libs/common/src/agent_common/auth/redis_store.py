"""API key hashes in Redis, shared by every gateway replica.

- `auth:apikey:<sha256>`  the key's record (JSON), looked up on every request;
- `auth:apikeys`          a hash, key id -> record, for listing and revoking.

Neither has a TTL: keys live until revoked, and under `volatile-lru` Redis
never evicts keys without one. The Redis holding them must persist (AOF or
snapshots), or a restart forgets every key.
"""

from __future__ import annotations

from redis.asyncio import Redis

from agent_common.auth.api_keys import ApiKeyRecord, ApiKeyStore

_INDEX = "auth:apikeys"


def _hash_key(key_hash: str) -> str:
    return f"auth:apikey:{key_hash}"


class RedisApiKeyStore(ApiKeyStore):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def list(self) -> list[ApiKeyRecord]:
        raw = await self._redis.hvals(_INDEX)
        return sorted((ApiKeyRecord.model_validate_json(r) for r in raw), key=lambda r: r.created_at)

    async def revoke(self, key_id: str) -> bool:
        raw = await self._redis.hget(_INDEX, key_id)
        if raw is None:
            return False
        record = ApiKeyRecord.model_validate_json(raw)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(_hash_key(record.key_hash))
            pipe.hdel(_INDEX, key_id)
            await pipe.execute()
        return True

    async def any_exist(self) -> bool:
        return bool(await self._redis.hlen(_INDEX))

    async def _add(self, record: ApiKeyRecord) -> None:
        data = record.model_dump_json()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_hash_key(record.key_hash), data)
            pipe.hset(_INDEX, record.key_id, data)
            await pipe.execute()

    async def _by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        raw = await self._redis.get(_hash_key(key_hash))
        return None if raw is None else ApiKeyRecord.model_validate_json(raw)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())
