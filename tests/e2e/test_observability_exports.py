"""What operators read is what the services export: after real traffic through
the distributed platform (and a reindex through the gateway, run by its rag-indexer process), every metric
in `docs/metrics.md` is exported by the services it names, with the labels it
names; every service's `/metrics` passes `promtool check metrics`; and every
metric a dashboard panel or an alert rule reads is really there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.observability import (
    catalogue,
    dashboard_exprs,
    dashboards,
    exported_families,
    metric_names,
    rule_exprs,
    sample_names,
)
from tests.support.platform import Platform, bearer, create_api_key

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

# The offline model stands in for a model provider: it exports nothing of ours.
NOT_OURS = {"offline-model"}
# Series Prometheus makes itself for every scrape target, not exported by a service.
SYNTHESISED = {"up"}


def service_name(process: str) -> str:
    return process.split("-")[0] if process.startswith(("orchestrator", "gateway")) else process


@pytest.fixture(scope="module")
def indexer(distributed: Platform, redis_url: str) -> str:
    """The platform's rag-indexer process, after one reindex sent through the gateway's `/api/reindex`."""
    assert distributed.documents is not None
    headers = bearer(create_api_key({"REDIS_URL": redis_url}, "metrics-ops", scopes=["reindex"]))
    body = {"source": {"name": "metrics", "paths": [str(distributed.documents / "office")]}}
    posted = httpx.post(f"{distributed.base_url}/api/reindex", json=body, headers=headers, timeout=30)
    assert posted.status_code == 202, posted.text
    request_id = posted.json()["request_id"]
    with httpx.stream(
        "GET",
        f"{distributed.base_url}/api/reindex/{request_id}/events",
        headers=headers,
        timeout=httpx.Timeout(30, read=120),
    ) as events:
        last = ""
        for line in events.iter_lines():
            if line.startswith("data:"):
                last = line
    assert json.loads(last[5:])["state"] == "done", last
    return distributed.services["rag-indexer"]


def run_traffic(platform: Platform, pages_url: str) -> None:
    """A fetched page, a refused address, a tool timeout, a model error retried, an unauthenticated call, a stream."""
    fault = httpx.post(
        f"{platform.services['offline-model']}/admin/faults", json={"kind": "server_error", "count": 1}, timeout=10
    )
    assert fault.status_code < 300, fault.text
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as client:
        for message in (
            f"What does {pages_url}/page say?",
            "What does http://2130706433/ say?",
            f"What does {pages_url}/stall say?",
            "Hello there",
        ):
            assert client.post("/api/chat", json={"message": message}).status_code in (200, 502), message
        with client.stream("POST", "/api/chat/stream", json={"message": "Hello again"}) as stream:
            assert stream.status_code == 200
            for _ in stream.iter_lines():
                pass
        assert httpx.post(f"{platform.base_url}/api/chat", json={"message": "hi"}, timeout=30).status_code == 401


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    return response.text


def referenced_names() -> dict[str, set[str]]:
    """Metric name -> where it is read (dashboard files, `rules`)."""
    used: dict[str, set[str]] = {}
    for name, board in dashboards().items():
        for expr in dashboard_exprs(board):
            for metric in metric_names(expr):
                used.setdefault(metric, set()).add(name)
    for expr in rule_exprs():
        for metric in metric_names(expr):
            used.setdefault(metric, set()).add("rules")
    return used


def set_budget(redis_url: str, tenant: str) -> None:
    """A budget far above the traffic's spend, as an operator sets one: the budget gauges, which exist for
    tenants with a budget only, appear with the tenant's first turn."""
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "budgets", "set", "--tenant", tenant, "--monthly-usd", "100000"],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def exports(distributed: Platform, pages_url: str, indexer: str, redis_url: str) -> dict[str, str]:
    """Each service's `/metrics` after the traffic, once every series a dashboard or rule reads has appeared
    (the consumer-lag gauge is refreshed every few seconds, so it is polled for, with a deadline)."""
    set_budget(redis_url, "default")  # the tenant of the platform's key
    run_traffic(distributed, pages_url)
    # Every replica: a run (and so its model retry) is handled by whichever orchestrator took it.
    urls = {name: distributed.metrics_url(name) for name in distributed.services if name not in NOT_OURS}
    assert "rag-indexer" in urls and indexer == distributed.services["rag-indexer"]
    wanted = set(referenced_names()) - SYNTHESISED
    deadline = time.monotonic() + 30
    while True:
        texts = {name: scrape(url) for name, url in urls.items()}
        seen = set().union(*(sample_names(t) for t in texts.values()))
        if wanted <= seen or time.monotonic() > deadline:
            return texts
        time.sleep(0.5)


def test_every_exported_metric_is_catalogued_with_its_type_labels_and_services(
    exports: dict[str, str],
) -> None:
    documented = catalogue()
    assert documented, "docs/metrics.md has no catalogue rows"
    exporters: dict[str, set[str]] = {}
    families = {}
    for process, text in exports.items():
        for name, family in exported_families(text).items():
            exporters.setdefault(name, set()).add(service_name(process))
            if family.sampled or name not in families:
                families[name] = family
    assert set(documented) == set(exporters), (
        f"exported, not catalogued: {sorted(set(exporters) - set(documented))}; "
        f"catalogued, not exported: {sorted(set(documented) - set(exporters))}"
    )
    for name, entry in documented.items():
        # Shared modules declare their metrics in every service that imports them (a breaker gauge
        # on the gateway too): the catalogue names the services that record them.
        assert entry.services <= exporters[name], (name, entry.services, exporters[name])
        assert entry.type == families[name].type, (name, entry.type, families[name].type)
        if families[name].sampled:
            assert entry.labels == families[name].labels, (name, entry.labels, families[name].labels)


def test_every_metric_a_dashboard_or_an_alert_reads_is_exported_after_traffic(exports: dict[str, str]) -> None:
    seen = set().union(*(sample_names(t) for t in exports.values()))
    used = referenced_names()
    assert used, "no dashboard or rule expression was found"
    missing = {name: sorted(where) for name, where in used.items() if name not in seen | SYNTHESISED}
    assert not missing, missing


def test_each_services_metrics_pass_promtool_check_metrics(exports: dict[str, str], promtool: str) -> None:
    for process, text in exports.items():
        done = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
        )
        # promtool lints too (exit 3: e.g. a counter without `_total`); only an unparsable exposition is exit 1.
        assert done.returncode == 0, f"{process}: {done.stdout}{done.stderr}"
