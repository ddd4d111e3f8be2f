"""The bus's contract, run against the in-process bus and Kafka."""

from __future__ import annotations

import pytest

from agent_common.bus import Bus, MemoryBus
from agent_common.bus.kafka import KafkaBus
from tests.contracts.bus import CONTRACT_TOPIC, BusContract


class TestMemoryBus(BusContract):
    @pytest.fixture
    def bus(self) -> Bus:
        return MemoryBus(partitions=4)


class TestKafkaBus(BusContract):
    # A new consumer group joins, is assigned its partitions and reads from the start.
    delivery_timeout_s = 30.0

    @pytest.fixture
    def bus(self, kafka_bootstrap: str) -> Bus:
        return KafkaBus(kafka_bootstrap, client_id="bus-contract", topics=(CONTRACT_TOPIC,))
