"""API keys: random secrets, stored only as their SHA-256 hashes.

A key is `agk_<key id>_<secret>`: the key id (public, shown by `agent keys
list`, used to revoke) and 32 random bytes. Keys are 256-bit random values, not
passwords, so a fast hash is the right one: nobody can guess a preimage, and a
lookup costs one hash and one read. A slow password hash (bcrypt, argon2)
would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from agent_common.auth.scopes import Scope

KEY_PREFIX = "agk_"
_KEY_PATTERN = re.compile(r"^agk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME_PATTERN = r"^[A-Za-z0-9_.@:-]{1,64}$"


class ApiKeyRecord(BaseModel):
    """What is kept about a key: never the key itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    key_hash: str
    user_id: str = Field(pattern=_NAME_PATTERN)
    tenant: str = Field(pattern=_NAME_PATTERN)
    name: str = ""
    created_at: float
    # Privileges beyond chatting; a record written before scopes existed has none.
    scopes: tuple[Scope, ...] = ()


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: `key` is shown once and kept nowhere."""

    record: ApiKeyRecord
    key: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return bool(_KEY_PATTERN.fullmatch(token))


def new_key(user_id: str, tenant: str, name: str = "", scopes: Iterable[Scope] = ()) -> NewApiKey:
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKeyRecord(
        key_id=key_id,
        key_hash=hash_key(key),
        user_id=user_id,
        tenant=tenant,
        name=name,
        created_at=time.time(),
        scopes=tuple(sorted(set(scopes))),
    )
    return NewApiKey(record=record, key=key)


class ApiKeyStore(ABC):
    """Where the hashes live: a file for the embedded default, Redis for replicas."""

    async def create(self, user_id: str, tenant: str, name: str = "", scopes: Iterable[Scope] = ()) -> NewApiKey:
        created = new_key(user_id, tenant, name, scopes)
        await self._add(created.record)
        return created

    async def lookup(self, key: str) -> ApiKeyRecord | None:
        """The record of a presented key, or None for an unknown, revoked or malformed one."""
        if not looks_like_key(key):
            return None
        return await self._by_hash(hash_key(key))

    @abstractmethod
    async def list(self) -> list[ApiKeyRecord]:
        """Every key's record, oldest first."""

    @abstractmethod
    async def revoke(self, key_id: str) -> bool:
        """Forget a key; False when there was no such key."""

    @abstractmethod
    async def any_exist(self) -> bool:
        """Whether at least one key exists (anonymous access is allowed only without)."""

    @abstractmethod
    async def _add(self, record: ApiKeyRecord) -> None: ...

    @abstractmethod
    async def _by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...

    async def ping(self) -> bool:
        return True
