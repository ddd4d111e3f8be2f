"""The tool runner on the bus: a call in, a completed call out, counted by tool
and outcome; what the runner holds, and what it does not."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from agent_common.bus import MemoryBus
from agent_common.messages import ToolCallCompleted, ToolCallRequested
from agent_tool_runner.service import ToolRunner
from agent_tool_runner.settings import SETTINGS_CLASSES
from tests.tool_runner.conftest import settings_for


def count(outcome: str, tool: str = "http_get") -> float:
    return REGISTRY.get_sample_value("tool_calls_total", {"tool": tool, "outcome": outcome}) or 0.0


def errors(code: str, tool: str = "http_get") -> float:
    return REGISTRY.get_sample_value("tool_call_errors_total", {"tool": tool, "code": code}) or 0.0


def security_events(reason: str) -> float:
    labels = {"event": "tool_url_refused", "reason": reason}
    return REGISTRY.get_sample_value("security_events_total", labels) or 0.0


CALLS = [
    ("http_get", "/page"),
    ("http_get", "http://localhost/"),
    ("http_get", "/fail"),
    ("http_get", "/stall"),
    ("run_shell", "/page"),
]


async def test_calls_on_the_bus_are_answered_with_their_outcomes_and_counted(upstream: str, upstream_port: int) -> None:
    bus = MemoryBus(partitions=2)
    runner = ToolRunner(bus, settings_for(upstream_port), concurrency=4)
    runner.register()
    answers: asyncio.Queue[ToolCallCompleted] = asyncio.Queue()

    async def collect(done: ToolCallCompleted) -> None:
        answers.put_nowait(done)

    bus.subscribe(ToolCallCompleted, collect, group="test")
    await bus.start()
    labels = [("ok", "http_get"), ("blocked", "http_get"), ("error", "http_get"), ("timeout", "http_get")]
    before = {label: count(*label) for label in [*labels, ("error", "unknown")]}
    http_500_before = errors("TOOL_UPSTREAM_HTTP_ERROR")
    refused_before = security_events("not_allowlisted")
    try:
        for n, (tool, target) in enumerate(CALLS):
            await bus.publish(
                ToolCallRequested(
                    request_id=f"req_{n}",
                    session_id="ses_1",
                    user_id="u7",
                    call_id=f"call_{n}",
                    tool=tool,
                    arguments={"url": upstream + target if target.startswith("/") else target},
                    deadline_at=time.time() + 10,
                )
            )
        got = {}
        for _ in CALLS:
            done = await asyncio.wait_for(answers.get(), 10)
            got[done.call_id] = done
    finally:
        await bus.stop()
        await runner.close()
    assert got["call_0"].outcome.ok and got["call_0"].request_id == "req_0" and got["call_0"].user_id == "u7"
    codes = {call_id: done.outcome.error.code for call_id, done in got.items() if done.outcome.error}
    assert codes == {
        "call_1": "TOOL_URL_NOT_ALLOWED",
        "call_2": "TOOL_UPSTREAM_HTTP_ERROR",
        "call_3": "TOOL_TIMEOUT",
        "call_4": "TOOL_UNKNOWN",
    }
    # A tool timeout rate is timeout / all, per tool; a name the model made up is one bounded label.
    assert {label: count(*label) - before[label] for label in before} == {
        ("ok", "http_get"): 1,
        ("blocked", "http_get"): 1,
        ("error", "http_get"): 1,
        ("timeout", "http_get"): 1,
        ("error", "unknown"): 1,
    }
    assert errors("TOOL_UPSTREAM_HTTP_ERROR") - http_500_before == 1
    # The refused URL is a security event too, for the security dashboard, with its reason.
    assert security_events("not_allowlisted") - refused_before == 1


def test_the_runner_says_at_start_up_what_is_open(upstream_port: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.tool_runner"):
        ToolRunner(MemoryBus(), settings_for(upstream_port, http_timeout_s=9.0), concurrency=1)
    text = caplog.text
    assert "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS is on" in text
    assert "TOOL_HTTP_TIMEOUT_S is 9.0 s, outside the recommended 3-5 s" in text


def test_the_tool_runner_reads_no_model_key_and_no_session_store() -> None:
    fields = {
        (cls.__name__, name, info.annotation) for cls in SETTINGS_CLASSES for name, info in cls.model_fields.items()
    }
    assert not [f for f in fields if f[2] is SecretStr or "SecretStr" in str(f[2])]
    names = {cls.__name__ for cls in SETTINGS_CLASSES}
    assert not names & {"ModelSettings", "RedisSettings", "SessionSettings"}
