"""The HPA scenario applies the orchestrator's real autoscaling policy: every metric its
HorizontalPodAutoscaler reads, and the Deployment's cap on runs, from deploy/k8s."""

from __future__ import annotations

import yaml

from gameday.policy import ORCHESTRATOR_MANIFEST, autoscaling_policy


def test_the_policy_is_the_manifest_s_every_metric_and_the_cap() -> None:
    policy = autoscaling_policy()
    docs = [d for d in yaml.safe_load_all(ORCHESTRATOR_MANIFEST.read_text()) if isinstance(d, dict)]
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    kinds = {m["type"] for m in hpa["spec"]["metrics"]}
    # Every metric the HPA reads is one the scenario evaluates: a new one must be taught to it.
    assert kinds <= {"Resource", "Pods"}, kinds
    assert (policy.runs_target is not None) == ("Pods" in kinds)
    assert (policy.cpu_target_percent is not None) == ("Resource" in kinds)
    # A replica at its cap must be past the runs target, or a spike could never scale it.
    assert policy.runs_target is None or policy.max_runs > policy.runs_target * 1.1
    assert policy.max_replicas >= 2
