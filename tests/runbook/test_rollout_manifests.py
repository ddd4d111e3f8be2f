"""deploy/rollouts renders, and its pieces hold together: each Rollout takes over a Deployment of
the base and is gated by the AnalysisTemplate there, the autoscalers size the Rollouts, and the
template's queries read catalogued metrics from the Prometheus the NetworkPolicies let in."""

from __future__ import annotations

from agent_cli.rollout_analysis import load_criteria
from tests.runbook.manifests import catalogued, rendered, resources
from tests.runbook.test_rollout_criteria import TEMPLATE
from tests.support.observability import metric_names

CANARIED = {"gateway", "orchestrator"}


def test_each_rollout_takes_over_a_deployment_of_the_base() -> None:
    rollouts = resources("Rollout")
    assert set(rollouts) == CANARIED
    deployments = resources("Deployment")
    for name, rollout in rollouts.items():
        ref = rollout["spec"]["workloadRef"]
        assert (ref["kind"], ref["name"]) == ("Deployment", name)
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert rollout["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert rollout["metadata"]["namespace"] == deployments[name]["metadata"]["namespace"] == "agent-platform"
        assert "replicas" not in rollout["spec"], "the autoscaler owns the count"


def test_each_canary_step_is_gated_by_the_analysis_template() -> None:
    templates = resources("AnalysisTemplate")
    assert set(templates) == {"platform-health"}
    for name, rollout in resources("Rollout").items():
        steps = rollout["spec"]["strategy"]["canary"]["steps"]
        weights = [s["setWeight"] for s in steps if "setWeight" in s]
        assert weights == sorted(weights) and weights[0] <= 25, name
        # Every weight is followed by an analysis of the template before the next one.
        for i, step in enumerate(steps):
            if "setWeight" in step:
                analysis = steps[i + 1]["analysis"]["templates"]
                assert [t["templateName"] for t in analysis] == ["platform-health"], name
        assert rollout["spec"]["progressDeadlineAbort"] is True


def test_the_autoscalers_size_the_rollouts_not_the_deployments_they_replace() -> None:
    for name, hpa in resources("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]
        expected = "Rollout" if name in CANARIED else "Deployment"
        assert (target["kind"], target["name"]) == (expected, name)


def test_the_template_reads_catalogued_metrics_from_the_clusters_prometheus() -> None:
    for criterion in load_criteria(TEMPLATE):
        for name in metric_names(criterion.query):
            assert catalogued(name), f"{criterion.name}: {name} is not in docs/metrics.md"
    template = resources("AnalysisTemplate")["platform-health"]
    addresses = {m["provider"]["prometheus"]["address"] for m in template["spec"]["metrics"]}
    # The NetworkPolicies let Prometheus in from the namespace `observability` (deploy/README.md).
    assert addresses == {"http://prometheus.observability.svc.cluster.local:9090"}
    assert any(d["kind"] == "AnalysisTemplate" for d in rendered())
