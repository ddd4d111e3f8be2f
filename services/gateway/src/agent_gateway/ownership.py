"""Sessions and runs belong to the caller who started them (tenant and user)."""

from __future__ import annotations

from agent_common.sessions.owners import OwnerStore
from agent_gateway.admission import user_key
from agent_gateway.auth import Caller
from agent_gateway.localized import Localized

NOT_FOUND = Localized("No such session or run, or it has expired.", "그런 세션이나 실행이 없거나 만료되었습니다.")


class Ownership:
    def __init__(self, owners: OwnerStore, *, session_ttl_s: float, run_ttl_s: float) -> None:
        self._owners = owners
        self._session_ttl_s = session_ttl_s
        self._run_ttl_s = run_ttl_s

    async def claim_session(self, session_id: str, caller: Caller, *, new: bool = True) -> bool:
        """Own a session for one more turn. Only the gateway mints session ids (`new`): one a
        client names must already be its own, so no id can be claimed ahead of its owner, and
        a mistyped id is 404 rather than a silent new conversation (docs/security.md)."""
        if not new and not await self.owns_session(session_id, caller):
            return False
        return await self._owners.claim("session", session_id, user_key(caller), self._session_ttl_s)

    async def claim_run(self, request_id: str, caller: Caller) -> bool:
        return await self._owners.claim("run", request_id, user_key(caller), self._run_ttl_s)

    async def claim_new_run(self, request_id: str, caller: Caller) -> bool:
        """Own a run id nobody has used yet (a caller's own `X-Request-ID`); False when it is in use."""
        return await self._owners.claim_new("run", request_id, user_key(caller), self._run_ttl_s)

    async def owns_session(self, session_id: str, caller: Caller) -> bool:
        return await self._owners.owned_by("session", session_id, user_key(caller))

    async def owns_run(self, request_id: str, caller: Caller) -> bool:
        return await self._owners.owned_by("run", request_id, user_key(caller))

    async def session_owner(self, session_id: str) -> str | None:
        return await self._owners.owner_of("session", session_id)
