"""What the orchestrator's HorizontalPodAutoscaler reads, from `deploy/k8s/orchestrator.yaml`:
the game day's HPA scenario applies that policy, not one of its own, and runs the
orchestrators with the deployment's cap on runs (`ORCHESTRATOR_MAX_RUNS`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ORCHESTRATOR_MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "orchestrator.yaml"


@dataclass(frozen=True)
class AutoscalingPolicy:
    cpu_request_cores: float
    cpu_target_percent: float | None  # Resource cpu, averageUtilization
    runs_target: float | None  # Pods orchestrator_runs_in_flight, averageValue per replica
    max_replicas: int
    max_runs: int  # ORCHESTRATOR_MAX_RUNS in the Deployment


def autoscaling_policy(manifest: Path = ORCHESTRATOR_MANIFEST) -> AutoscalingPolicy:
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if isinstance(d, dict)]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    request = str(container["resources"]["requests"]["cpu"])
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    metrics: list[dict[str, Any]] = hpa["spec"]["metrics"]
    cpu = next((m for m in metrics if m["type"] == "Resource" and m["resource"]["name"] == "cpu"), None)
    runs = next(
        (m for m in metrics if m["type"] == "Pods" and m["pods"]["metric"]["name"] == "orchestrator_runs_in_flight"),
        None,
    )
    return AutoscalingPolicy(
        cpu_request_cores=float(request[:-1]) / 1000 if request.endswith("m") else float(request),
        cpu_target_percent=None if cpu is None else float(cpu["resource"]["target"]["averageUtilization"]),
        runs_target=None if runs is None else float(runs["pods"]["target"]["averageValue"]),
        max_replicas=int(hpa["spec"]["maxReplicas"]),
        max_runs=int(env.get("ORCHESTRATOR_MAX_RUNS") or 100),
    )
