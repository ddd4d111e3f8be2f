"""Every run's usage reaches the ledger, in both modes: after a chat turn, the ledger writer
(the orchestrators', or the embedded process's) has stored its entry and counted its tokens,
as an operator sees them on the metrics port (`usage_tokens_total`, per tenant and model)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from agent_common.budgets.periods import month_of
from agent_common.budgets.redis import RedisBudgetStore
from tests.support.platform import Platform

WAIT_S = 20


def ledger_counts(platform: Platform, tenant: str) -> tuple[float, float]:
    """(entries stored, completion tokens counted for `tenant` on the offline model), summed over the processes."""
    names = [n for n in platform.metrics if n.startswith("orchestrator")] or ["gateway"]
    stored = tokens = 0.0
    for name in names:
        for family in text_string_to_metric_families(httpx.get(platform.metrics_url(name), timeout=10).text):
            for sample in family.samples:
                if sample.name == "usage_ledger_writes_total" and sample.labels.get("result") == "stored":
                    stored += sample.value
                if sample.name == "usage_tokens_total" and sample.labels == {
                    "tenant": tenant,
                    "model": "offline-1",
                    "kind": "completion",
                }:
                    tokens += sample.value
    return stored, tokens


def test_a_run_s_usage_is_stored_and_counted(platform: Platform) -> None:
    stored, tokens = ledger_counts(platform, "default")
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as client:
        answer = client.post("/api/chat", json={"message": "How much did this answer cost?"})
    assert answer.status_code == 200, answer.text
    used = answer.json()["usage"]["completion_tokens"]
    assert used > 0
    deadline = time.monotonic() + WAIT_S
    while True:
        now_stored, now_tokens = ledger_counts(platform, "default")
        if now_stored >= stored + 1 and now_tokens >= tokens + used:
            break
        assert time.monotonic() < deadline, f"not stored: {(stored, tokens)} -> {(now_stored, now_tokens)}, used {used}"
        time.sleep(0.2)


@pytest.mark.kafka
@pytest.mark.redis
async def test_the_orchestrators_count_a_run_s_spend_where_every_gateway_checks_budgets(
    distributed: Platform, redis_url: str
) -> None:
    # The ledger writer's budget hook in the orchestrator's process: the tenant's month in Redis grows.
    redis = Redis.from_url(redis_url)
    store, month = RedisBudgetStore(redis), month_of(dt.datetime.now(dt.UTC))
    try:
        before = (await store.spent("default", None, month)).tenant.tokens
        async with httpx.AsyncClient(base_url=distributed.base_url, headers=distributed.headers, timeout=60) as client:
            answer = await client.post("/api/chat", json={"message": "Count this one against the budget."})
        assert answer.status_code == 200, answer.text
        used = answer.json()["usage"]["total_tokens"]
        deadline = time.monotonic() + WAIT_S
        while (now := (await store.spent("default", None, month)).tenant.tokens) < before + used:
            assert time.monotonic() < deadline, f"spend not counted: {before} -> {now}, the run used {used}"
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
