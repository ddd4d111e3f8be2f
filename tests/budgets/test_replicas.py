"""Budgets over one real Redis: two gateway replicas, spend recorded concurrently through both
(every usage entry delivered twice, once to each), count it exactly and refuse alike; and
`agent budgets` manages the same budgets."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis

from agent_common.budgets import Budget, BudgetStore, SpendCounter
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig
from tests.budgets.conftest import GENEROUS_LIMITS, agent, key_id_of
from tests.support.platform import bearer

pytestmark = pytest.mark.redis

COST = Decimal("0.000123457")  # per run: no float sums a few hundred of these exactly
RUNS = 400


@pytest.fixture
def budgets_redis(redis_url: str) -> Iterator[str]:
    """A database of its own, emptied: budgets and API keys are global keys."""
    url = redis_url.rsplit("/", 1)[0] + "/12"
    client = Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def replicas(budgets_redis: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[TestClient]]:
    monkeypatch.setenv("REDIS_URL", budgets_redis)
    monkeypatch.setenv("GATEWAY_REQUEST_TIMEOUT_S", "2")  # no orchestrator: an admitted turn times out
    monkeypatch.setenv("GATEWAY_RUN_ENDING_GRACE_S", "0.5")
    for name, value in GENEROUS_LIMITS.items():
        monkeypatch.setenv(name, value)
    apps: list[FastAPI] = [create_app(GatewayConfig()) for _ in range(2)]
    with (
        TestClient(apps[0], raise_server_exceptions=False) as one,
        TestClient(apps[1], raise_server_exceptions=False) as two,
    ):
        yield [one, two]


def on(client: TestClient, coroutine: Any) -> Any:
    """Run a coroutine on the replica's own event loop (its Redis pool lives there)."""

    async def run() -> Any:
        return await coroutine()

    return client.portal.call(run)  # type: ignore[union-attr]


def store_of(client: TestClient) -> BudgetStore:
    store: BudgetStore = client.app.state.admission.budgets  # type: ignore[attr-defined]
    return store


def spend_through_both(replicas: list[TestClient], tenant: str, key_id: str, first: int, last: int) -> None:
    """Runs `first`..`last`-1 recorded by both replicas at once, each entry by each (a redelivery)."""
    at = dt.datetime.now(dt.UTC)

    def writer(client: TestClient) -> None:
        recorder = SpendCounter(store_of(client))

        async def record_all() -> None:
            in_flight = asyncio.Semaphore(32)

            async def one(n: int) -> None:
                async with in_flight:
                    await recorder.record_spend(
                        request_id=f"req_{n}", tenant=tenant, key_id=key_id, tokens=7, cost=COST, at=at
                    )

            await asyncio.gather(*(one(n) for n in range(first, last)))

        on(client, record_all)

    threads = [threading.Thread(target=writer, args=(client,)) for client in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def turn(client: TestClient, key: str) -> Any:
    return client.post("/api/chat", json={"message": "Hello"}, headers=bearer(key))


def test_two_replicas_count_concurrent_spend_exactly_and_refuse_alike(replicas: list[TestClient]) -> None:
    one, two = replicas
    key = on(one, lambda: one.app.state.admission.authenticator.keys.create("ana", "acme")).key  # type: ignore[attr-defined]
    on(two, lambda: store_of(two).set(Budget(tenant="acme", monthly_usd=COST * RUNS)))

    spend_through_both(replicas, "acme", key_id_of(key), 0, RUNS - 1)
    for client in replicas:  # one run's worth short of the budget: admitted (and timed out, no orchestrator)
        assert turn(client, key).json()["error"]["code"] != "BUDGET_EXCEEDED"

    spend_through_both(replicas, "acme", key_id_of(key), RUNS - 1, RUNS)
    bodies = [turn(client, key).json()["error"] for client in replicas]
    assert [b["code"] for b in bodies] == ["BUDGET_EXCEEDED", "BUDGET_EXCEEDED"]
    assert Decimal(bodies[0]["details"]["used"]) == Decimal(bodies[1]["details"]["used"]) == COST * RUNS
    spent = on(one, lambda: store_of(one).spent("acme", key_id_of(key), dt.datetime.now(dt.UTC).strftime("%Y-%m")))
    assert spent.tenant.cost == spent.key.cost == COST * RUNS
    assert spent.tenant.tokens == 7 * RUNS


def test_the_command_line_manages_the_budgets_the_replicas_read(budgets_redis: str) -> None:
    env = {"REDIS_URL": budgets_redis}
    done = agent(env, "budgets", "set", "--tenant", "acme", "--monthly-usd", "50", "--warn-at", "0.9")
    assert done.returncode == 0, done.stderr
    assert "Budget of acme: 50 USD a month, warned at 90%, in Redis (REDIS_URL)." in done.stderr
    assert agent(env, "budgets", "set", "--tenant", "acme", "--key", "k1", "--monthly-tokens", "1000").returncode == 0
    shown = agent(env, "budgets", "show", "--tenant", "acme")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("\t") for line in shown.stdout.splitlines()]
    assert rows[0] == ["scope", "unit", "limit", "used", "used_%", "warn_at", "resets_at"]
    assert [row[:6] for row in rows[1:]] == [
        ["acme", "usd", "50", "0", "0.0%", "90%"],
        ["acme/k1", "tokens", "1000", "0", "0.0%", "80%"],
    ]
    assert agent(env, "budgets", "remove", "--tenant", "acme", "--key", "k1").returncode == 0
    assert agent(env, "budgets", "remove", "--tenant", "acme", "--key", "k1").returncode == 1
    assert len(agent(env, "budgets", "show").stdout.splitlines()) == 2
