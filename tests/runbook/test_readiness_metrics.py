"""Every `/ready` answer is counted by outcome, and each failing check by name: the readiness-failure
rate the rollout analysis reads. The build-info series names the version the process runs."""

from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.testclient import TestClient

from agent_common.build_info import installed_version
from agent_common.probes import probe_routes


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return found or 0.0


def test_ready_answers_and_failing_checks_are_counted() -> None:
    healthy = {"ok": True}

    async def bus() -> bool:
        return healthy["ok"]

    async def events() -> bool:
        return True

    app = Starlette(routes=probe_routes("gateway", lambda: {"bus": bus, "events": events}))
    ready, not_ready = (
        value("readiness_probes_total", outcome="ready"),
        value("readiness_probes_total", outcome="not_ready"),
    )
    bus_failures = value("readiness_check_failures_total", check="bus")
    events_failures = value("readiness_check_failures_total", check="events")
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        healthy["ok"] = False
        assert client.get("/ready").status_code == 503
        assert client.get("/ready").status_code == 503
    assert value("readiness_probes_total", outcome="ready") == ready + 1
    assert value("readiness_probes_total", outcome="not_ready") == not_ready + 2
    assert value("readiness_check_failures_total", check="bus") == bus_failures + 2
    assert value("readiness_check_failures_total", check="events") == events_failures


def test_the_build_info_names_the_version_running() -> None:
    probe_routes("orchestrator", dict)
    assert value("agent_build_info", version=installed_version("orchestrator")) == 1
    assert installed_version("orchestrator") != ""
