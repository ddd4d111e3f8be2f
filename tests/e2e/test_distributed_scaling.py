"""The distributed mode scales per service: orchestrator replicas share the work,
and a run's state lives in Redis, so any replica can continue any run."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict

import httpx
import pytest

from tests.e2e.sse import stream_chat
from tests.support.platform import Platform

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

ORCHESTRATORS = ("orchestrator-1", "orchestrator-2")


def runs_done(platform: Platform, name: str) -> float:
    text = httpx.get(platform.metrics_url(name)).text
    match = re.search(r'^orchestrator_runs_total\{error_class="",outcome="done"\} ([0-9.e+]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def log_events(platform: Platform, name: str) -> list[dict[str, object]]:
    lines = platform.logs[name].read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def test_two_orchestrator_replicas_share_the_chat_requests(distributed: Platform) -> None:
    before = {name: runs_done(distributed, name) for name in ORCHESTRATORS}
    async with httpx.AsyncClient(timeout=60, headers=distributed.headers) as client:
        # Distinct sessions spread over the partitions, and so over both replicas.
        responses = await asyncio.gather(
            *(client.post(f"{distributed.base_url}/api/chat", json={"message": f"hello {n}"}) for n in range(24))
        )
    assert [r.status_code for r in responses] == [200] * 24
    handled = {name: runs_done(distributed, name) - before[name] for name in ORCHESTRATORS}
    assert sum(handled.values()) == 24
    assert all(count > 0 for count in handled.values()), handled


async def test_a_run_dispatched_by_one_replica_is_continued_by_the_other(distributed: Platform, pages_url: str) -> None:
    requests = 16
    results = await asyncio.gather(
        *(
            stream_chat(
                distributed.base_url,
                {"message": f"What does {pages_url}/page say? ({n})"},
                headers=distributed.headers,
            )
            for n in range(requests)
        )
    )
    request_ids = set()
    for events in results:
        assert events[-1].event == "done"
        assert "pineapple" in json.loads(events[-1].data)["answer"]
        request_ids.add(json.loads(events[-1].data)["request_id"])
    # Which replica dispatched each run's tool call, and which one finished it. A replica logs
    # "run done" just after it publishes the `done` event, so the last lines may still be on
    # their way to the log files: read until every run has both, within a deadline.
    deadline = time.monotonic() + 15
    while True:
        where: dict[str, dict[str, str]] = defaultdict(dict)
        for name in ORCHESTRATORS:
            for entry in log_events(distributed, name):
                if entry.get("request_id") in request_ids and entry.get("event") in ("tools dispatched", "run done"):
                    where[str(entry["request_id"])][str(entry["event"])] = name
        complete = len(where) == requests and all(len(seen) == 2 for seen in where.values())
        if complete or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert len(where) == requests
    assert all(len(seen) == 2 for seen in where.values()), where
    crossed = [rid for rid, seen in where.items() if seen["tools dispatched"] != seen["run done"]]
    assert crossed, "every run was finished by the replica that dispatched its tool call"
