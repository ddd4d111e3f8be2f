"""A real Prometheus and a real Alertmanager (Debian's binaries) watching the game day's
platform, configured from the project's own files in deploy/observability:

- prometheus.yml with the local targets (a file Prometheus re-reads, so a replica added or
  taken away is seen the way Kubernetes' discovery would show it) and the local Alertmanager;
- the project's rules, unchanged, or for a short run a copy whose every `for:` and range
  window is divided by `time_scale` (`scaled_rules`);
- alertmanager.yml with its routes and inhibitions as they are, its receivers pointed at the
  game day's webhook (`alerts.py`), its waits divided by the same factor.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from gameday.durations import parse_duration, scale_duration, scale_windows
from tests.support.web import free_tcp_port

__all__ = ["Monitoring", "Target", "monitoring", "scaled_alertmanager_config", "scaled_rules", "scraped_services"]

ROOT = Path(__file__).resolve().parents[1]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "prometheus" / "rules" / "platform.yml"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"
JOB = "agent-platform"  # the job the rules select (`up{job="agent-platform"}`)


@dataclass(frozen=True)
class Target:
    """One process Prometheus scrapes: `service` as the rules and dashboards name it."""

    address: str  # host:port of its metrics port
    service: str
    labels: Mapping[str, str] = field(default_factory=dict)


def scraped_services() -> set[str]:
    """The services the project's prometheus.yml scrapes (the offline model, a demo, is not one)."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == JOB)
    return {group["labels"]["service"] for group in job["static_configs"]}


def scaled_rules(factor: float, scrape_s: float) -> dict[str, Any]:
    """The project's rules with every `for:` and range window divided by `factor`; a window keeps
    at least four scrapes, or `rate()` would have too few samples to say anything."""
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    if factor == 1:
        return rules
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = scale_windows(rule["expr"], factor, floor_s=4 * scrape_s)
            if "for" in rule:
                rule["for"] = scale_duration(rule["for"], factor)
    return rules


def scaled_alertmanager_config(factor: float, webhook_url: str) -> dict[str, Any]:
    """alertmanager.yml's routes and inhibitions as they are; every receiver's webhook sent to
    `webhook_url/<receiver>`; its waits and intervals divided by `factor`."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/{receiver['name']}"
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route and factor != 1:
                route[key] = scale_duration(route[key], factor, floor_s=1)
    return config


def notify_wait(routing: dict[str, Any]) -> float:
    """The longest Alertmanager may hold a firing alert before notifying, over its routes: a new
    group's `group_wait`, or `group_interval` for a group that notified already (the same alert
    name and severity, a scenario before). A child route without its own inherits its parent's."""
    root = routing["route"]
    return max(
        parse_duration(r.get(key, root.get(key, default)))
        for r in [root, *root.get("routes", [])]
        for key, default in (("group_wait", "30s"), ("group_interval", "5m"))
    )


def prometheus_config(
    scrape_s: float, rule_file: Path, targets_file: Path, alertmanager: str, factor: float
) -> dict[str, Any]:
    """prometheus.yml for the local processes: its scrape job (name, path) as the project's."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == JOB)
    interval = config["global"]["scrape_interval"] if factor == 1 else f"{scrape_s:g}s"
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(rule_file)]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    job.pop("static_configs", None)
    job["file_sd_configs"] = [{"files": [str(targets_file)], "refresh_interval": "1s"}]
    # The target's own address stays `instance`; `service` comes from the target's labels.
    config["scrape_configs"] = [job]
    return config


class Monitoring:
    """The running Prometheus and Alertmanager; `set_targets` changes what is scraped."""

    def __init__(
        self,
        workdir: Path,
        prometheus_url: str,
        alertmanager_url: str,
        *,
        scrape_s: float,
        time_scale: float,
        rule_file: Path,
        notify_wait_s: float,
    ) -> None:
        self.workdir = workdir
        self.prometheus_url = prometheus_url
        self.alertmanager_url = alertmanager_url
        self.scrape_s = scrape_s
        self.time_scale = time_scale
        self.rule_file = rule_file
        # The longest Alertmanager may hold a firing alert before notifying: a new group's
        # `group_wait`, or, for a group that has notified already (an alert of the same name and
        # severity a scenario before, resolved since), its `group_interval`.
        self.notify_wait_s = notify_wait_s
        self._targets_file = workdir / "targets.json"

    def rules(self) -> dict[str, Any]:
        """The alert rules Prometheus evaluates (the project's, or their scaled copy)."""
        rules: dict[str, Any] = yaml.safe_load(self.rule_file.read_text())
        return rules

    def set_targets(self, targets: list[Target]) -> None:
        groups = [
            {"targets": [t.address], "labels": {"service": t.service, **t.labels}}
            for t in sorted(targets, key=lambda t: t.address)
        ]
        staged = self._targets_file.with_suffix(".tmp")
        staged.write_text(json.dumps(groups, indent=1))
        staged.replace(self._targets_file)  # Prometheus never reads half a file

    def query(self, expr: str, *, timeout: float = 10) -> list[dict[str, Any]]:
        """An instant query's result vector (`[{"metric": {...}, "value": [t, "v"]}]`)."""
        response = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr}, timeout=timeout)
        body: dict[str, Any] = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error', response.text)}")
        data: dict[str, Any] = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def active_alerts(self) -> list[dict[str, Any]]:
        """Prometheus's pending and firing alerts, as its API gives them."""
        body = httpx.get(f"{self.prometheus_url}/api/v1/alerts", timeout=10).json()
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    def wait_scraped(self, count: int, timeout: float = 60) -> None:
        """Until `count` targets are up: the first scrapes came in."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, RuntimeError):
                if len(self.query(f'up{{job="{JOB}"}} == 1')) >= count:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"Prometheus did not see {count} targets up within {timeout:.0f} s")


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"{' or '.join(names)} is not installed (scripts/ensure-system-deps.sh installs it)")


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def _process(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def monitoring(workdir: Path, webhook_url: str, *, time_scale: float = 1, scrape_s: float = 1) -> Iterator[Monitoring]:
    """Prometheus and Alertmanager on free ports, their data under `workdir`. At `time_scale`
    1 the project's rules and intervals as they are; above it, scaled down (stated in the report)."""
    workdir.mkdir(parents=True, exist_ok=True)
    am_port, prom_port = free_tcp_port(), free_tcp_port()
    am_config = workdir / "alertmanager.yml"
    routing = scaled_alertmanager_config(time_scale, webhook_url)
    am_config.write_text(yaml.safe_dump(routing, sort_keys=False))
    notify_wait_s = notify_wait(routing)
    rule_file = RULES if time_scale == 1 else workdir / "rules-scaled.yml"
    if time_scale != 1:
        rule_file.write_text(yaml.safe_dump(scaled_rules(time_scale, scrape_s), sort_keys=False))
    prom_config = workdir / "prometheus.yml"
    targets_file = workdir / "targets.json"
    targets_file.write_text("[]")
    config = prometheus_config(scrape_s, rule_file, targets_file, f"127.0.0.1:{am_port}", time_scale)
    prom_config.write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([_binary("promtool"), "check", "config", str(prom_config)], check=True, capture_output=True)
    alertmanager = [
        _binary("prometheus-alertmanager", "alertmanager"),
        f"--config.file={am_config}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",  # one Alertmanager: no gossip port
    ]
    prometheus = [
        _binary("prometheus"),
        f"--config.file={prom_config}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        "--storage.tsdb.retention.time=1d",
    ]
    with (
        _process(alertmanager, workdir / "alertmanager.log") as am_proc,
        _process(prometheus, workdir / "prometheus.log") as prom_proc,
    ):
        am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
        _wait_http(f"{am_url}/-/ready", am_proc, workdir / "alertmanager.log")
        _wait_http(f"{prom_url}/-/ready", prom_proc, workdir / "prometheus.log")
        yield Monitoring(
            workdir,
            prom_url,
            am_url,
            scrape_s=parse_duration(config["global"]["scrape_interval"]),
            time_scale=time_scale,
            rule_file=rule_file,
            notify_wait_s=notify_wait_s,
        )
