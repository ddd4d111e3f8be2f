"""An orchestrator killed (SIGKILL, an OOM kill) and restarted at once, as Kubernetes restarts a
crashed container under the same pod name: the other replica goes on answering its share of the
chats while the dead member is still in the group. Before `bus/kafka_rejoin.py`, the restarted
replica's join stopped every replica until the dead member's session ended, and no chat sent in
that time was answered before it did (14 s)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import platform_env
from tests.support.platform import Platform, distributed_platform
from tests.support.services import kafka_of_its_own, redis_of_its_own

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

SESSION_S = 20  # the group's session timeout with the default ride-through (kafka_consumer.py)
PROMPT_S = 3.0  # an answer in this long came from a replica that kept its partitions


@pytest.fixture(scope="module")
def platform(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with (
        kafka_of_its_own(tmp_path_factory.mktemp("rejoin-kafka")) as kafka,
        redis_of_its_own(tmp_path_factory.mktemp("rejoin-redis")) as redis,
    ):
        env = {
            **platform_env(pages_url, tmp_path_factory.mktemp("rejoin-keys") / "unused-keys.json"),
            "GATEWAY_REQUEST_TIMEOUT_S": "60",
            "OFFLINE_MODEL_FIRST_TOKEN_DELAY_MS": "20",
            "OFFLINE_MODEL_TOKEN_DELAY_MS": "2",
        }
        log_dir: Path = tmp_path_factory.mktemp("rejoin-logs")
        with distributed_platform(env, kafka=kafka.bootstrap, redis_url=redis.url, log_dir=log_dir) as running:
            yield running


def events(platform: Platform, name: str) -> list[str]:
    text = platform.logs[name].read_text(errors="replace")
    return [json.loads(line).get("event", "") for line in text.splitlines() if line.startswith("{")]


async def test_a_crashed_orchestrator_restarted_at_once_stops_no_other_replicas_chats(platform: Platform) -> None:
    victim = platform.processes["orchestrator-1"]
    answered: list[tuple[float, float, int]] = []  # (sent, took, status), seconds after the kill
    async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=90) as client:

        async def chat(n: int) -> None:
            sent = time.monotonic() - killed
            response = await client.post("/api/chat", json={"message": f"hello {n}"})  # a new session each
            answered.append((sent, time.monotonic() - killed - sent, response.status_code))

        for n in range(4):  # both replicas up and answering
            assert (await client.post("/api/chat", json={"message": f"warm {n}"})).status_code == 200
        victim.kill()
        killed = time.monotonic()
        victim.respawn()  # the same name: a container restarted in its pod
        # From when the restarted replica is up (and would have joined) until the dead member's
        # session is nearly over: a new chat every 0.4 s, each its own session, so spread over
        # both replicas' partitions.
        await asyncio.sleep(7)
        chats = []
        while time.monotonic() - killed < SESSION_S - 4:
            chats.append(asyncio.create_task(chat(len(chats))))
            await asyncio.sleep(0.4)
        await asyncio.gather(*chats)
    assert all(status == 200 for _, _, status in answered), answered  # the dead replica's share too, late
    prompt = [sent for sent, took, _ in answered if took < PROMPT_S]
    assert prompt, f"no chat answered within {PROMPT_S} s while the dead member was in the group: {answered}"
    # The restarted replica stayed out until its previous member had gone, then joined.
    lines = events(platform, "orchestrator-1")
    assert any(line.startswith("this replica's previous member is still in its group") for line in lines), lines
    assert "the previous member has left: joining" in lines, lines
    async with httpx.AsyncClient() as probe, asyncio.timeout(30):  # and it is ready again: consuming
        while not (await probe.get(f"{platform.services['orchestrator-1']}/ready")).is_success:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
