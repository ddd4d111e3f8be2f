"""Who owns a session or a run: one interface, an in-process and a Redis store."""

from agent_common.sessions.owners.base import Kind, OwnerStore
from agent_common.sessions.owners.memory import MemoryOwnerStore

__all__ = ["Kind", "MemoryOwnerStore", "OwnerStore"]
