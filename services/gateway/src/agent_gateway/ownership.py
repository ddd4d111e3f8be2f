"""Sessions and runs belong to the caller who started them (tenant and user)."""

from __future__ import annotations

from enum import Enum

from agent_common.sessions.owners import Owned, OwnerStore
from agent_gateway.admission import user_key
from agent_gateway.auth import Caller
from agent_gateway.localized import Localized

NOT_FOUND = Localized("No such session or run, or it has expired.", "그런 세션이나 실행이 없거나 만료되었습니다.")


class NamedRun(Enum):
    """What became of a run id the caller chose (`X-Request-ID`)."""

    CLAIMED = "claimed"  # new: the caller's run goes by it
    USED_BY_CALLER = "used_by_caller"  # the caller already ran under it: one id, one run
    HELD_BY_ANOTHER = "held_by_another"  # another caller's: never said, the run gets an id of the server's


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

    async def claim_named_run(self, request_id: str, caller: Caller) -> NamedRun:
        """Own a run id the caller chose, if nobody has used it yet. An id another caller holds
        blocks nobody: this caller's run is given an id of the server's instead, so no id can be
        claimed ahead of its owner to refuse the owner's run (docs/security.md)."""
        if await self._owners.claim_new("run", request_id, user_key(caller), self._run_ttl_s):
            return NamedRun.CLAIMED
        if await self.owns_run(request_id, caller):
            return NamedRun.USED_BY_CALLER
        return NamedRun.HELD_BY_ANOTHER

    async def owns_session(self, session_id: str, caller: Caller) -> bool:
        return await self._owners.owned_by("session", session_id, user_key(caller))

    async def owns_run(self, request_id: str, caller: Caller) -> bool:
        return await self._owners.owned_by("run", request_id, user_key(caller))

    async def session_owner(self, session_id: str) -> str | None:
        return await self._owners.owner_of("session", session_id)

    async def sessions(self, caller: Caller) -> list[Owned]:
        """The caller's own sessions, the most recently used first."""
        return await self._owners.owned("session", user_key(caller))
