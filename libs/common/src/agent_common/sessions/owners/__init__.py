"""Who owns a session or a run: one interface, an in-process and a Redis store."""

from agent_common.sessions.owners.base import MAX_LISTED, Kind, Owned, OwnerStore
from agent_common.sessions.owners.memory import MemoryOwnerStore

__all__ = ["MAX_LISTED", "Kind", "MemoryOwnerStore", "Owned", "OwnerStore"]
