"""The embedded default's transports: one process, everything in memory.

The bus is in-process unless the settings say Kafka (a tool runner or indexer
over Kafka shares no state, so it needs no Redis); API keys and budgets are local files.
"""

from __future__ import annotations

from pathlib import Path

from agent_common.auth import ApiKeyStore, FileApiKeyStore
from agent_common.budgets import BudgetStore, MemoryBudgetStore
from agent_common.bus import Bus
from agent_common.rate_limits import MemoryRequestLimiter, MemoryStreamSlots, RequestLimiter, StreamSlots
from agent_common.run_events import MemoryRunEventChannel, RunEventChannel
from agent_common.run_store import MemoryRunStore, RunStore
from agent_common.sessions import MemorySessionStore, SessionBounds, SessionStore
from agent_common.sessions.owners import MemoryOwnerStore, OwnerStore
from agent_common.transports.base import ConfigurationError, Transports


class MemoryTransports(Transports):
    def __init__(
        self, bus: Bus, *, sessions: SessionBounds, keys_file: Path | None = None, budgets_file: Path | None = None
    ) -> None:
        super().__init__(bus, sessions=sessions)
        self._keys_file = keys_file
        self._budgets_file = budgets_file

    @property
    def api_keys_location(self) -> str:
        return f"file {self._keys_file}"

    def stream_slots(self, limit: int, lease_s: float) -> StreamSlots:
        return MemoryStreamSlots(limit, lease_s)

    async def ping(self) -> bool:
        return True

    def _open_run_events(self) -> RunEventChannel:
        return MemoryRunEventChannel()

    def _open_sessions(self) -> SessionStore:
        bounds = self.session_bounds
        return MemorySessionStore(max_turns=bounds.max_turns, ttl_s=bounds.ttl_s, max_tokens=bounds.max_tokens)

    def _open_owners(self) -> OwnerStore:
        return MemoryOwnerStore()

    def _open_api_keys(self) -> ApiKeyStore:
        if self._keys_file is None:
            raise ConfigurationError("API keys without Redis live in a file: pass its path (AUTH_KEYS_FILE).")
        return FileApiKeyStore(self._keys_file)

    def _open_request_limiter(self) -> RequestLimiter:
        return MemoryRequestLimiter()

    def _open_run_store(self) -> RunStore:
        return MemoryRunStore()

    def _open_budgets(self) -> BudgetStore:
        # In a file when given one, so that `agent budgets set` reaches a running `agent run`.
        return MemoryBudgetStore(self._budgets_file)
