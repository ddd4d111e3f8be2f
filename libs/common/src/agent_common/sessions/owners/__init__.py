"""Who owns a session or a run: one interface, an in-process and a Redis store."""

from agent_common.sessions.owners.base import LISTED_KINDS, MAX_LISTED, Kind, Owned, OwnerStore
from agent_common.sessions.owners.memory import MemoryOwnerStore

__all__ = ["LISTED_KINDS", "MAX_LISTED", "Kind", "MemoryOwnerStore", "Owned", "OwnerStore"]
