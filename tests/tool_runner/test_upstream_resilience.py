"""`http_get` against an upstream that fails: what a retry can fix is retried,
and a host that keeps failing is cut off by its circuit breaker."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client import REGISTRY

from agent_common.errors import ErrorCode
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import Executor
from tests.tool_runner.conftest import DEAD_PORT, error_code, fetch, settings_for


async def hits(upstream: str, key: str) -> int:
    async with httpx.AsyncClient() as client:
        count: int = (await client.get(f"{upstream}/hits", params={"id": key})).json()["hits"]
    return count


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_a_passing_upstream_failure_is_retried(executor: Executor, upstream: str, status: int) -> None:
    key = uuid.uuid4().hex
    outcome = await fetch(executor, f"{upstream}/flaky?id={key}&status={status}")
    assert outcome.ok, outcome.error
    assert outcome.output["text"] == "answered on call 2"


@pytest.mark.parametrize("status", [400, 404, 500])
async def test_an_answer_a_retry_cannot_change_is_not_retried(executor: Executor, upstream: str, status: int) -> None:
    key = uuid.uuid4().hex
    outcome = await fetch(executor, f"{upstream}/flaky?id={key}&status={status}")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
    assert await hits(upstream, key) == 1


async def test_retries_are_bounded(executor: Executor, upstream: str) -> None:
    key = uuid.uuid4().hex
    outcome = await fetch(executor, f"{upstream}/flaky?id={key}&fail=10")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
    assert await hits(upstream, key) == 2  # TOOL_HTTP_RETRY_ATTEMPTS


def open_breakers() -> float:
    return REGISTRY.get_sample_value("tool_host_breakers_open") or 0.0


async def test_an_upstream_that_keeps_failing_is_cut_off_and_others_are_not(upstream: str, upstream_port: int) -> None:
    settings = settings_for(upstream_port, http_retry_attempts=1)
    ctx = ToolContext.create(settings)
    executor = Executor(ctx)
    try:
        for _ in range(5):  # five refused connections: the window's failure rate opens the breaker
            assert error_code(await fetch(executor, f"http://127.0.0.1:{DEAD_PORT}/")) == "TOOL_UPSTREAM_UNREACHABLE"
        refused = await fetch(executor, f"http://127.0.0.1:{DEAD_PORT}/")
        assert error_code(refused) == ErrorCode.TOOL_UNAVAILABLE  # refused at once, no connection tried
        assert refused.error is not None and refused.error.details["reason"] == "circuit_open"
        assert open_breakers() >= 1
        other = await fetch(executor, f"{upstream}/page")  # another service on the same host
        assert other.ok, other.error
    finally:
        await ctx.aclose()


async def test_pages_that_do_not_exist_do_not_open_the_breaker(upstream: str, upstream_port: int) -> None:
    ctx = ToolContext.create(settings_for(upstream_port))
    executor = Executor(ctx)
    try:
        for _ in range(6):
            outcome = await fetch(executor, f"{upstream}/no-such-page")
            assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR  # 404: the host is up
        assert (await fetch(executor, f"{upstream}/page")).ok
    finally:
        await ctx.aclose()


async def test_a_host_answering_500_is_cut_off(upstream: str, upstream_port: int) -> None:
    ctx = ToolContext.create(settings_for(upstream_port))
    executor = Executor(ctx)
    try:
        for _ in range(5):
            assert error_code(await fetch(executor, f"{upstream}/fail")) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
        assert error_code(await fetch(executor, f"{upstream}/page")) == ErrorCode.TOOL_UNAVAILABLE
    finally:
        await ctx.aclose()


async def test_a_host_that_hangs_is_cut_off_like_one_that_fails(upstream: str, upstream_port: int) -> None:
    # The call's deadline cuts a hanging host off from outside the fetch: that must count against
    # its breaker as a failure does, or a hang never opens it (found by the game day).
    ctx = ToolContext.create(settings_for(upstream_port, http_timeout_s=0.5, http_retry_attempts=1))
    executor = Executor(ctx)
    try:
        for _ in range(5):
            assert error_code(await fetch(executor, f"{upstream}/stall")) == ErrorCode.TOOL_TIMEOUT
        refused = await fetch(executor, f"{upstream}/stall")
        assert error_code(refused) == ErrorCode.TOOL_UNAVAILABLE  # refused at once, not waited for again
        assert refused.error is not None and refused.error.details["reason"] == "circuit_open"
    finally:
        await ctx.aclose()
