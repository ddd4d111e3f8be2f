"""An observed platform: the embedded default, scraped every second by a real Prometheus that
evaluates the project's own alert rules (their `for:` cut to 0 so an alert fires within seconds).
The handoff note and the runbook's queries are checked against it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.budgets.conftest import agent
from tests.support.observability import rule_groups
from tests.support.platform import Platform, embedded_process
from tests.support.prometheus import PrometheusServer, Samples, running_prometheus


@dataclass(frozen=True)
class Observed:
    platform: Platform
    prometheus: PrometheusServer


MISCONFIGURED = 'llm_calls_total{outcome="MODEL_MISCONFIGURED"}'


def _total(samples: Samples) -> float:
    """Every series' value added up (one per model the process has called)."""
    return sum(float(sample["value"][1]) for sample in samples)


def _rules_at_once(path: Path) -> Path:
    groups = [{**g, "rules": [{**r, "for": "0s"} for r in g["rules"]]} for g in rule_groups()]
    path.write_text(yaml.safe_dump({"groups": groups}))
    return path


@pytest.fixture(scope="package")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    keys_file = tmp_path_factory.mktemp("runbook-keys") / "api-keys.json"
    workdir = tmp_path_factory.mktemp("prometheus")
    # A budget far above what the tests spend, so the budget gauges the runbook reads exist.
    env = {"AUTH_KEYS_FILE": str(keys_file), "BUDGETS_FILE": str(workdir / "budgets.json")}
    budget = agent(env, "budgets", "set", "--tenant", "default", "--monthly-tokens", "1000000000")
    assert budget.returncode == 0, budget.stderr
    # A process of its own: the queries must find what the embedded default exports, not what
    # modules imported by other tests in this process register (they passed alone only by luck).
    with embedded_process(env, tmp_path_factory.mktemp("observed-platform")) as platform:
        target = httpx.URL(platform.metrics["gateway"])
        rules = _rules_at_once(workdir / "rules.yml")
        with running_prometheus(workdir, {"embedded": f"{target.host}:{target.port}"}, rule_files=[rules]) as prom:
            # Scraped before the failure, so `rate()` sees the counters rise from 0.
            prom.wait_for("count_over_time(up[1m])", lambda s: bool(s) and float(s[0]["value"][1]) >= 2)
            with httpx.Client(base_url=platform.base_url, timeout=30) as client:
                assert client.get("/ready").status_code == 200
                assert client.post("/api/chat", json={"message": "Hello"}).status_code == 200
                # The model refuses the platform's key: a run that ends in a `model` error.
                refused = client.post("/api/chat", json={"message": "[[offline:unauthorized]]"})
                assert refused.status_code >= 400, refused.text
            prom.wait_for(MISCONFIGURED, lambda s: _total(s) >= 1)
            yield Observed(platform, prom)
