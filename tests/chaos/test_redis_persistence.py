"""Redis as production keeps it (deploy/redis/redis.conf: `appendonly yes`, `appendfsync
everysec`) loses no acknowledged write when its process is killed: `everysec` defers the
fsync, not the write, and the kernel's page cache outlives the process. (Only a crash of
the host itself can cost the last second, which no test here can cause.) This is why the
chaos tier's Redis kills are no test of the fsync policy: what they lose, the code lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.services import ServiceUnavailable, require_service, start_redis

pytestmark = [pytest.mark.redis]


@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
def test_a_killed_redis_keeps_every_acknowledged_write(appendfsync: str, tmp_path: Path) -> None:
    try:
        server = start_redis(tmp_path, appendfsync=appendfsync)
    except ServiceUnavailable as exc:
        require_service("Redis", str(exc))
    try:
        client = redis.Redis(port=server.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))  # fail at once
        acknowledged = 0
        killer = threading.Timer(1.0, server.kill)  # SIGKILL mid-stream of writes
        killer.start()
        try:
            while True:
                acknowledged = int(client.incr("acknowledged"))
        except redis.ConnectionError:
            pass
        killer.join()
        server.start()
        kept = int(redis.Redis(port=server.port).get("acknowledged") or 0)
        # One more than acknowledged is a write applied whose reply the kill cut off.
        assert acknowledged > 0 and kept >= acknowledged, (acknowledged, kept)
    finally:
        server.stop()
