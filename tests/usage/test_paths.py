"""Expensive paths: which a run took, by the thresholds the settings give."""

from __future__ import annotations

import datetime

from agent_common.usage import ModelCallUsage, ToolCallUsage, UsageEntry, UsageSettings
from agent_common.usage.paths import PathThresholds, expensive_paths


def run(calls: list[ModelCallUsage], tools: int = 0, steps: int = 1) -> UsageEntry:
    return UsageEntry(
        request_id="req_1",
        tenant="t",
        user_id="u",
        session_id="s",
        at=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC),
        model_calls=calls,
        tool_calls=[ToolCallUsage(tool="http_get", ok=True)] * tools,
        steps=steps,
    )


def test_a_plain_run_takes_no_path() -> None:
    assert expensive_paths(run([ModelCallUsage(model="m", prompt_tokens=7999)]), PathThresholds()) == {}


def test_each_path_and_what_shows_it() -> None:
    calls = [
        ModelCallUsage(model="m", step=1, attempt=1, prompt_tokens=9000, error="MODEL_TIMEOUT"),
        ModelCallUsage(model="m", step=1, attempt=2, prompt_tokens=9000),
        ModelCallUsage(model="m2", role="secondary", step=2, prompt_tokens=10),
    ]
    paths = expensive_paths(run(calls, tools=4, steps=3), PathThresholds())
    assert paths == {
        "long_prompt": "a prompt of 9000 tokens",
        "retries": "1 failed call(s) tried again",
        "tool_calls": "4 tool calls",
        "steps": "3 steps",
        "secondary_model": "answered by the secondary model",
    }


def test_a_failure_that_ended_the_run_is_no_retry_and_the_thresholds_are_settings() -> None:
    failed = run([ModelCallUsage(model="m", prompt_tokens=500, error="MODEL_STREAM_INTERRUPTED")])
    assert expensive_paths(failed, PathThresholds()) == {}
    low = UsageSettings(long_prompt_tokens=400, many_tool_calls=1, many_steps=1).path_thresholds()
    assert set(expensive_paths(failed, low)) == {"long_prompt", "steps"}
