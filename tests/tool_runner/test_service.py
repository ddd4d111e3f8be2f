"""The tool runner on the bus: a call in, a completed call out, counted by outcome."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client import REGISTRY

from agent_common.bus import MemoryBus
from agent_common.messages import ToolCallCompleted, ToolCallRequested
from agent_common.settings import ToolSettings
from agent_tool_runner.service import ToolRunner


def count(outcome: str) -> float:
    return REGISTRY.get_sample_value("tool_calls_total", {"tool": "http_get", "outcome": outcome}) or 0.0


async def test_a_call_on_the_bus_is_answered_with_its_outcome_and_counted(upstream: str) -> None:
    bus = MemoryBus(partitions=2)
    settings = ToolSettings(
        http_allowlist=["127.0.0.1"],
        http_allowed_ports=[httpx.URL(upstream).port or 0],
        http_allow_private_networks=True,
    )
    runner = ToolRunner(bus, settings, concurrency=4)
    runner.register()
    answers: asyncio.Queue[ToolCallCompleted] = asyncio.Queue()

    async def collect(done: ToolCallCompleted) -> None:
        answers.put_nowait(done)

    bus.subscribe(ToolCallCompleted, collect, group="test")
    await bus.start()
    before = {k: count(k) for k in ("ok", "blocked", "error")}
    try:
        for n, url in enumerate([f"{upstream}/page", "http://localhost/", f"{upstream}/fail"]):
            await bus.publish(
                ToolCallRequested(
                    request_id=f"req_{n}",
                    session_id="ses_1",
                    user_id="u7",
                    call_id=f"call_{n}",
                    tool="http_get",
                    arguments={"url": url},
                    deadline_at=time.time() + 10,
                )
            )
        got = {}
        for _ in range(3):
            done = await asyncio.wait_for(answers.get(), 10)
            got[done.call_id] = done
    finally:
        await bus.stop()
        await runner.close()
    assert got["call_0"].outcome.ok and got["call_0"].request_id == "req_0" and got["call_0"].user_id == "u7"
    assert got["call_1"].outcome.error is not None and got["call_1"].outcome.error.code == "TOOL_URL_NOT_ALLOWED"
    assert got["call_2"].outcome.error is not None and got["call_2"].outcome.error.code == "TOOL_UPSTREAM_HTTP_ERROR"
    assert {k: count(k) - before[k] for k in before} == {"ok": 1, "blocked": 1, "error": 1}
