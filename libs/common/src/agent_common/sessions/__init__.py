"""Session memory: bounded conversation history per session."""

from agent_common.sessions.base import SessionBounds, SessionStore, Turn
from agent_common.sessions.memory import MemorySessionStore

__all__ = ["MemorySessionStore", "SessionBounds", "SessionStore", "Turn"]
