"""An orchestrator that cannot reach its Redis takes no run: it serves its probes, says why it
is not ready, and stays out of the `chat.requests` group until it is (docs/reliability.md#readiness).

Before, such a replica (the game day's `release-unready`) joined the group at start, was given
its share of partitions and held their runs until it was gone: the clients' turns on them
ended `INFRA_TIMEOUT`. The bus's side (nothing taken before ready, everything after) is in the
bus contract (`tests/contracts/bus.py`); this is the orchestrator's process wired to it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from agent_common.topics import CHAT_REQUESTS
from tests.support.kafka_groups import members_from
from tests.support.web import free_tcp_port

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(120)]

START_S = 60  # Python's start-up and imports on a loaded two-core machine, and a group's join


@contextmanager
def orchestrator(tmp_path: Path, kafka_bootstrap: str, redis_url: str) -> Iterator[tuple[str, Path]]:
    port = free_tcp_port()
    log = tmp_path / f"orchestrator-{port}.log"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BUS_", "REDIS_", "ORCHESTRATOR_", "MODEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_orchestrator"],
        env={
            **base,
            "ORCHESTRATOR_PORT": str(port),
            "BUS_BACKEND": "kafka",
            "BUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "REDIS_URL": redis_url,
            "RAG_ENABLED": "false",
            "LOG_LEVEL": "INFO",
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def ready_answer(base: str, log: Path, settled: str) -> dict[str, object]:
    """The first `/ready` answer whose status is `settled`, or the test fails naming the last."""
    deadline = time.monotonic() + START_S
    last: object = None
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                last = (await client.get(f"{base}/ready")).json()
                if isinstance(last, dict) and last["status"] == settled:
                    return last
            except httpx.HTTPError as exc:
                last = exc
            await asyncio.sleep(0.5)
    raise AssertionError(f"no {settled!r} answer in {START_S} s; last {last!r}\n{tail(log)}")


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def test_an_orchestrator_without_its_redis_is_not_ready_and_joins_no_group(
    tmp_path: Path, kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    before = await members_from(kafka_admin, CHAT_REQUESTS.consumer_group, "orchestrator")
    nothing_there = f"redis://127.0.0.1:{free_tcp_port()}/0"
    with orchestrator(tmp_path, kafka_bootstrap, nothing_there) as (base, log):
        await ready_answer(base, log, "not_ready")
        # Long enough for a consumer started with the process to have joined (a new member's
        # rebalance waits the broker's 3 s initial delay at most).
        await asyncio.sleep(8)
        answer = await ready_answer(base, log, "not_ready")
        assert answer["checks"] == {"bus": "ok", "state": "failing", "events": "failing", "consuming": "failing"}
        assert await members_from(kafka_admin, CHAT_REQUESTS.consumer_group, "orchestrator") <= before
        assert "not taking messages yet" in log.read_text()


async def test_an_orchestrator_with_its_redis_joins_and_says_so(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    with orchestrator(tmp_path, kafka_bootstrap, redis_url) as (base, log):
        answer = await ready_answer(base, log, "ready")
        assert answer["checks"] == {"bus": "ok", "state": "ok", "events": "ok", "consuming": "ok"}
        async with asyncio.timeout(30):  # joining takes a rebalance
            while not await members_from(kafka_admin, CHAT_REQUESTS.consumer_group, "orchestrator"):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        assert "not taking messages yet" not in log.read_text()
