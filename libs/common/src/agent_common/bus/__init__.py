"""The message bus: one interface, an in-process and a Kafka transport."""

from agent_common.bus.base import Bus
from agent_common.bus.delivery import HANDLER_RETRIES, Handler, HandlerRetries
from agent_common.bus.health import BusHealth
from agent_common.bus.memory import MemoryBus

__all__ = ["HANDLER_RETRIES", "Bus", "BusHealth", "Handler", "HandlerRetries", "MemoryBus"]
