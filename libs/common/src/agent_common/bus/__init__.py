"""The message bus: one interface, an in-process and a Kafka transport."""

from agent_common.bus.base import Bus
from agent_common.bus.delivery import Handler
from agent_common.bus.memory import MemoryBus

__all__ = ["Bus", "Handler", "MemoryBus"]
