"""The outages the chaos tier causes, by name: Redis killed, paused or partitioned, the
broker restarted or partitioned. Each is an `Outage` to begin, hold and end."""

from __future__ import annotations

from tests.chaos.conftest import ChaosKafka, ChaosRedis
from tests.chaos.scenario import Outage


def redis_killed(chaos: ChaosRedis, hold_s: float, name: str) -> Outage:
    """SIGKILL, down for `hold_s`, started again on its append-only file."""
    return Outage(name, chaos.server.kill, chaos.server.start, hold_s)


def redis_paused(chaos: ChaosRedis, hold_s: float) -> Outage:
    """SIGSTOP then SIGCONT: connections stay open and nothing answers meanwhile."""
    return Outage("redis_paused", chaos.server.pause, chaos.server.resume, hold_s)


def redis_partitioned(chaos: ChaosRedis, hold_s: float, *, blackhole: bool) -> Outage:
    begin = chaos.proxy.blackhole if blackhole else chaos.proxy.cut
    return Outage(f"redis_{'blackholed' if blackhole else 'cut'}", begin, chaos.proxy.heal, hold_s)


def kafka_restarted(chaos: ChaosKafka) -> Outage:
    """The broker stopped (a controlled shutdown) and started again: down as long as that takes."""
    return Outage("kafka_restarted", chaos.server.stop, chaos.server.start, 0.0)


def kafka_partitioned(chaos: ChaosKafka, hold_s: float, *, blackhole: bool) -> Outage:
    begin = chaos.proxy.blackhole if blackhole else chaos.proxy.cut
    return Outage(f"kafka_{'blackholed' if blackhole else 'cut'}", begin, chaos.proxy.heal, hold_s)
