"""A real Prometheus for tests: Debian's `prometheus` binary on a free loopback port.

`running_prometheus` writes a configuration scraping the given targets as job
`agent-platform` (each with its `service` label, as
`deploy/observability/prometheus/prometheus.yml` does) every `scrape_interval`,
optionally loading rule files, starts the server with its storage in `workdir`,
waits for `/-/ready` and stops it on exit. `PrometheusServer.wait_for` polls a
query until its answer satisfies a test's predicate.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.services import require_service
from tests.support.web import free_tcp_port

__all__ = ["PrometheusServer", "prometheus_binary", "running_prometheus"]

Samples = list[dict[str, Any]]


def prometheus_binary() -> str:
    """The server binary (Debian package `prometheus`, installed by scripts/ensure-system-deps.sh)."""
    path = shutil.which("prometheus")
    if path is None:
        require_service("Prometheus", "prometheus not found (Debian package prometheus)")
    assert path is not None
    return path


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    workdir: Path
    log: Path

    def query(self, expr: str) -> Samples:
        """An instant query's vector (`[{"metric": {...}, "value": [t, "v"]}, ...]`)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        answer.raise_for_status()
        result: Samples = answer.json()["data"]["result"]
        return result

    def wait_for(self, expr: str, until: Callable[[Samples], bool], timeout_s: float = 60) -> Samples:
        deadline = time.monotonic() + timeout_s
        while True:
            samples = self.query(expr)
            if until(samples):
                return samples
            assert time.monotonic() < deadline, f"{expr} never satisfied the test: last {samples}"
            time.sleep(0.5)


def _config(targets: Mapping[str, str], scrape_interval: str, rule_files: Sequence[Path]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": "agent-platform",
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [address], "labels": {"service": service}} for service, address in targets.items()
                ],
            }
        ],
    }


@contextmanager
def running_prometheus(
    workdir: Path,
    targets: Mapping[str, str],
    *,
    scrape_interval: str = "1s",
    rule_files: Sequence[Path] = (),
) -> Iterator[PrometheusServer]:
    """Prometheus scraping `targets` (service name -> `host:port` of its metrics endpoint)."""
    binary = prometheus_binary()
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(_config(targets, scrape_interval, rule_files)))
    port = free_tcp_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = PrometheusServer(f"http://127.0.0.1:{port}", workdir, log_path)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"Prometheus not ready: {log_path.read_text()[-2000:]}"
                time.sleep(0.2)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
