"""API key hashes in a local JSON file, for the embedded default (one process, no Redis).

The file holds hashes only and is written atomically with mode 0600; the
gateway re-reads it when it changes, so `agent keys create` and `revoke` take
effect on a running server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel

from agent_common.auth.api_keys import ApiKeyRecord, ApiKeyStore


class _KeyFile(BaseModel):
    keys: list[ApiKeyRecord] = []


class FileApiKeyStore(ApiKeyStore):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None
        self._records: list[ApiKeyRecord] = []

    def _load(self) -> list[ApiKeyRecord]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            self._seen, self._records = None, []
            return []
        marker = (stat.st_mtime_ns, stat.st_size)
        if marker != self._seen:
            self._records = _KeyFile.model_validate_json(self._path.read_bytes()).keys
            self._seen = marker
        return self._records

    def _save(self, records: list[ApiKeyRecord]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".keys-")  # created with mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_KeyFile(keys=records).model_dump_json(indent=2).encode())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._seen = None

    async def list(self) -> list[ApiKeyRecord]:
        return list(self._load())

    async def revoke(self, key_id: str) -> bool:
        records = self._load()
        kept = [r for r in records if r.key_id != key_id]
        if len(kept) == len(records):
            return False
        self._save(kept)
        return True

    async def any_exist(self) -> bool:
        return bool(self._load())

    async def _add(self, record: ApiKeyRecord) -> None:
        self._save([*self._load(), record])

    async def _by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        return next((r for r in self._load() if r.key_hash == key_hash), None)
