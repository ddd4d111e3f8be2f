"""An embedded platform with API keys and a budget file of its own, and how an operator and
the ledger act on it: `agent budgets` in its own process, spend recorded into the same store."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent_common.budgets import MemoryBudgetStore, SpendCounter
from tests.support.platform import Platform, create_api_key, embedded_platform

GENEROUS_LIMITS = {
    "RATE_LIMIT_USER_PER_MINUTE": "100000",
    "RATE_LIMIT_IP_PER_MINUTE": "100000",
    "RATE_LIMIT_STREAMS_PER_USER": "1000",
}


def agent(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`agent <args>` in its own process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "agent_cli.main", *args],
        # The embedded default's file unless the test names a Redis: never the developer's own.
        env={**{k: v for k, v in os.environ.items() if k != "REDIS_URL"}, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def key_id_of(key: str) -> str:
    return key.split("_")[1]


def metric(platform: Platform, name: str, *, every: bool = False, **labels: str) -> float:
    """The sample of `name` with `labels`, as Prometheus would scrape it; `every`: the sum of all its samples."""
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(platform.metrics_url()).text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                if not every:
                    return sample.value
                total += sample.value
    return total


@dataclass
class Budgeted:
    platform: Platform
    env: dict[str, str]
    budgets_file: Path

    def key(self, user: str, tenant: str) -> str:
        return create_api_key(self.env, user, tenant)

    def spend(self, tenant: str, key: str | None, *, tokens: int = 0, cost: str = "0") -> None:
        """What the ledger writer does after storing a run's usage entry."""
        recorder = SpendCounter(MemoryBudgetStore(self.budgets_file))
        asyncio.run(
            recorder.record_spend(
                request_id=f"req_{uuid.uuid4().hex}",
                tenant=tenant,
                key_id=None if key is None else key_id_of(key),
                tokens=tokens,
                cost=Decimal(cost),
                at=dt.datetime.now(dt.UTC),
            )
        )


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Budgeted]:
    folder = tmp_path_factory.mktemp("budgets")
    env = {
        "AUTH_KEYS_FILE": str(folder / "api-keys.json"),
        "BUDGETS_FILE": str(folder / "budgets.json"),
        **GENEROUS_LIMITS,
    }
    with embedded_platform(env) as platform:
        yield Budgeted(platform, env, folder / "budgets.json")
