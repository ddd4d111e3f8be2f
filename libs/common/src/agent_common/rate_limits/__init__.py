"""Rate-limit primitives on a storage: request counts per window, open-stream slots.

The gateway decides what is limited and how a refusal reads; these only count.
"""

from agent_common.rate_limits.base import RequestLimiter, StreamSlots, WindowStats
from agent_common.rate_limits.memory import MemoryRequestLimiter, MemoryStreamSlots

__all__ = ["MemoryRequestLimiter", "MemoryStreamSlots", "RequestLimiter", "StreamSlots", "WindowStats"]
