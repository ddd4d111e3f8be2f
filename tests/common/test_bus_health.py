"""The bus's health pings only while a run waits on the bus: nothing at all while idle, at
once when a run starts watching, and what it knew is forgotten when the watching stops."""

from __future__ import annotations

import asyncio

from agent_common.bus import BusHealth, MemoryBus

INTERVAL_S = 0.05


class CountedBus(MemoryBus):
    """A bus that counts its pings, and answers them as `reachable` says."""

    def __init__(self) -> None:
        super().__init__()
        self.pings = 0
        self.reachable = True

    async def ping(self) -> bool:
        self.pings += 1
        return self.reachable


async def test_an_idle_gateway_does_not_ping_the_bus_and_a_waiting_run_makes_it() -> None:
    bus = CountedBus()
    async with BusHealth(bus, interval_s=INTERVAL_S) as health:
        await asyncio.sleep(10 * INTERVAL_S)
        assert bus.pings == 0
        with health.watching():
            await asyncio.sleep(INTERVAL_S / 5)
            assert bus.pings == 1  # at once, not an interval later
            await asyncio.sleep(10 * INTERVAL_S)
            watched = bus.pings
            assert watched >= 5
        await asyncio.sleep(10 * INTERVAL_S)
        assert bus.pings <= watched + 1  # the ping under way when the watching stopped, at most


async def test_an_outage_seen_while_watching_is_forgotten_when_no_run_waits() -> None:
    bus = CountedBus()
    bus.reachable = False
    async with BusHealth(bus, interval_s=INTERVAL_S) as health:
        with health.watching():
            with health.watching():  # two runs waiting
                await asyncio.sleep(3 * INTERVAL_S)
            assert health.unreachable_for() > 0  # one run still waits: still known
        assert health.unreachable_for() == 0
        bus.reachable = True
        with health.watching():
            await asyncio.sleep(INTERVAL_S / 5)
            assert health.unreachable_for() == 0  # a run after the outage starts from what a fresh ping says
