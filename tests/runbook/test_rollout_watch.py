"""`agent rollout watch` rolls a bad release back and keeps a healthy one: the real command,
against a real Prometheus scraping a target whose counters a release's traffic drives, with
a `kubectl` on the PATH that records its calls instead of touching a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from agent_cli.rollout import ROLLED_BACK
from tests.support.prometheus import PrometheusServer, running_prometheus


@dataclass
class Release:
    """Two runs and two requests every 0.1 s; `failing`: the share of them that fail (class infra)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    failing: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.runs = Counter("orchestrator_runs", "", ["outcome", "error_class"], registry=self.registry)
        self.requests = Counter("http_requests", "", ["method", "route", "status"], registry=self.registry)
        self.errors = Counter("platform_errors", "", ["origin", "error_class", "code"], registry=self.registry)
        self.probes = Counter("readiness_probes", "", ["outcome"], registry=self.registry)
        self.runs.labels("error", "infra")
        self.errors.labels("http", "infra", "INFRA_UNAVAILABLE")
        self.probes.labels("not_ready")

    def traffic(self) -> None:
        while not self.stop.wait(0.1):
            failed = 2 * self.failing
            self.runs.labels("done", "").inc(2 - failed)
            self.runs.labels("error", "infra").inc(failed)
            self.requests.labels("POST", "/api/chat", "200").inc(2 - failed)
            self.requests.labels("POST", "/api/chat", "503").inc(failed)
            self.errors.labels("http", "infra", "INFRA_UNAVAILABLE").inc(failed)
            self.probes.labels("ready").inc()


@pytest.fixture
def release(tmp_path: Path) -> Iterator[tuple[Release, PrometheusServer]]:
    traffic = Release()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=traffic.registry)
    driver = threading.Thread(target=traffic.traffic, daemon=True)
    driver.start()
    try:
        with running_prometheus(tmp_path, {"orchestrator": f"127.0.0.1:{server.server_port}"}) as prometheus:
            # rate() needs two samples of every series.
            prometheus.wait_for(
                "count_over_time(orchestrator_runs_total[1m])", lambda s: bool(s) and float(s[0]["value"][1]) >= 3
            )
            yield traffic, prometheus
    finally:
        traffic.stop.set()
        driver.join(timeout=5)
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def kubectl(tmp_path: Path) -> tuple[Path, Path]:
    """A `kubectl` that appends its arguments to calls.log and succeeds."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    return bin_dir, calls


def watch(prometheus_url: str, bin_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "agent_cli.main", "rollout", "watch", "--prometheus", prometheus_url]
    command += ["--deployment", "gateway", "--deployment", "orchestrator", "--interval", "1", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_release_that_starts_failing_is_rolled_back(
    release: tuple[Release, PrometheusServer], kubectl: tuple[Path, Path]
) -> None:
    traffic, prometheus = release
    bin_dir, calls = kubectl
    proc = watch(prometheus.url, bin_dir, "--count", "20")
    time.sleep(2.5)  # a few measurements pass first
    traffic.failing = 0.5
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == ROLLED_BACK, output
    assert "run-error-share" in output and "FAILED" in output and ": ok (" in output, output
    assert calls.read_text().splitlines() == [
        "rollout undo deployment/gateway -n agent-platform",
        "rollout undo deployment/orchestrator -n agent-platform",
        "rollout status deployment/gateway -n agent-platform --timeout=10m",
        "rollout status deployment/orchestrator -n agent-platform --timeout=10m",
    ]


def test_a_healthy_release_stays(release: tuple[Release, PrometheusServer], kubectl: tuple[Path, Path]) -> None:
    _, prometheus = release
    bin_dir, calls = kubectl
    proc = watch(prometheus.url, bin_dir, "--count", "4")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert output.count(": ok (") == 4 * 3, output  # every criterion, every measurement
    assert "the release stays" in output
    assert not calls.exists()


def test_prometheus_unreachable_is_no_promotion(kubectl: tuple[Path, Path]) -> None:
    """Five measurements in a row that cannot be taken fail the analysis, as in Argo Rollouts."""
    bin_dir, calls = kubectl
    proc = watch("http://127.0.0.1:9", bin_dir, "--count", "10", "--interval", "0.05")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == ROLLED_BACK, output
    assert "measurement error" in output
    assert "rollout undo deployment/gateway -n agent-platform" in calls.read_text()


def test_a_failed_rollback_says_so(release: tuple[Release, PrometheusServer], tmp_path: Path) -> None:
    traffic, prometheus = release
    traffic.failing = 1.0
    bin_dir = tmp_path / "failing-bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text("#!/bin/sh\necho 'error: no permission' >&2\nexit 1\n")
    (bin_dir / "kubectl").chmod(0o755)
    time.sleep(2)
    proc = watch(prometheus.url, bin_dir, "--count", "5")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, output
    assert "roll back by hand" in output
