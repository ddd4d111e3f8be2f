"""The bus's contract, in process. (Kafka's bus is exercised end to end in `tests/e2e`.)"""

from __future__ import annotations

import pytest

from agent_common.bus import Bus, MemoryBus
from tests.contracts.bus import BusContract


class TestMemoryBus(BusContract):
    @pytest.fixture
    def bus(self) -> Bus:
        return MemoryBus(partitions=4)
