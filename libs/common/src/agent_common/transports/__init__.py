"""A process's transports: the bus, the run-event channel, the stores, the rate limits.

`open_transports` picks them from settings (`choice.py`); `base.py` is what a
process can ask for, `memory.py` the embedded default's, `redis.py` the
distributed mode's (Redis, from one pool, beside Kafka).
"""

from agent_common.transports.base import ConfigurationError, Transports
from agent_common.transports.choice import check_mode, open_transports
from agent_common.transports.memory import MemoryTransports

__all__ = ["ConfigurationError", "MemoryTransports", "Transports", "check_mode", "open_transports"]
