"""The rendered deploy/rollouts (which includes deploy/k8s) and the metrics catalogue, as the
runbook and rollout tests look things up in them."""

from __future__ import annotations

import subprocess
from functools import cache
from typing import Any

import yaml

from tests.support.observability import ROOT, catalogue

# Series Prometheus makes itself.
PROMETHEUS_OWN = {"up", "ALERTS"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def catalogued(name: str) -> str | None:
    entries = catalogue()
    if name in entries or name in PROMETHEUS_OWN:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and entries.get(base) and entries[base].type == "histogram":
            return base
    return None


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "rollouts")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found = {d["metadata"]["name"]: d for d in rendered() if d["kind"] == kind}
    if kind == "Secret":  # made by the External Secrets Operator
        for external in resources("ExternalSecret").values():
            found[external["spec"]["target"]["name"]] = external
    return found


def pod_labels() -> list[dict[str, str]]:
    return [d["spec"]["template"]["metadata"]["labels"] for d in resources("Deployment").values()]


def containers(deployment: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in resources("Deployment")[deployment]["spec"]["template"]["spec"]["containers"]}
