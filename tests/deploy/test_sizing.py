"""The manifests hold the values docs/sizing.md derives from measured traffic: each service's
requests and limits, its autoscaler (HPA or KEDA ScaledObject), the metric it scales on, its
target, bounds and stabilisation windows, and the per-replica caps the derivation assumes.

The doc's tables are the source: change a value there (with its arithmetic), then here in the
manifests, or this fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy import REPO
from tests.deploy.k8s import container, container_env, deployment, hpa_for, scaled_object_for

SIZING = REPO / "docs" / "sizing.md"


def table(heading: str) -> list[dict[str, str]]:
    """The first Markdown table under `## <heading>`, one dict per row, cells stripped of backticks."""
    lines = SIZING.read_text().splitlines()
    block: list[str] = []
    for line in lines[lines.index(f"## {heading}") + 1 :]:
        if line.startswith("|"):
            block.append(line)
        elif block or line.startswith("## "):
            break
    assert len(block) > 2, f"no table under ## {heading}"
    cells = [[c.strip().strip("`") for c in line.strip().strip("|").split("|")] for line in block]
    header, body = cells[0], cells[2:]
    return [dict(zip(header, row, strict=True)) for row in body]


VALUES = {row["service"]: row for row in table("The values")}


def seconds(cell: str) -> int:
    assert cell.endswith(" s"), cell
    return int(cell.removesuffix(" s"))


def test_the_table_covers_every_deployment() -> None:
    from tests.deploy.k8s import DEPLOYMENTS

    assert sorted(VALUES) == DEPLOYMENTS


@pytest.mark.parametrize("name", sorted(VALUES))
def test_requests_and_limits_are_the_derived_ones(name: str) -> None:
    row, resources = VALUES[name], container(name)["resources"]
    assert str(resources["requests"]["cpu"]) == row["CPU request"]
    assert str(resources["limits"]["cpu"]) == row["CPU limit"]
    assert str(resources["requests"]["memory"]) == row["memory request"]
    assert str(resources["limits"]["memory"]) == row["memory limit"]


def _hpa_metrics(hpa: dict[str, Any]) -> dict[str, str]:
    """What each metric of an HPA aims at, as the table writes it."""
    targets: dict[str, str] = {}
    for metric in hpa["spec"]["metrics"]:
        if metric["type"] == "Resource":
            targets[metric["resource"]["name"]] = f"{metric['resource']['target']['averageUtilization']}%"
        else:
            assert metric["type"] == "Pods", metric
            targets[metric["pods"]["metric"]["name"]] = str(metric["pods"]["target"]["averageValue"])
    return targets


@pytest.mark.parametrize("name", sorted(VALUES))
def test_the_autoscaler_is_the_derived_one(name: str) -> None:
    row = VALUES[name]
    wanted = dict(zip(row["scales on"].split("; "), row["target"].split("; "), strict=True))
    if row["autoscaler"] == "HPA":
        hpa = hpa_for(name)
        assert hpa and not scaled_object_for(name)
        spec = hpa["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (int(row["min"]), int(row["max"]))
        assert _hpa_metrics(hpa) == wanted
        behavior = spec["behavior"]
    elif row["autoscaler"] == "KEDA":
        scaled = scaled_object_for(name)
        assert scaled and not hpa_for(name)
        spec = scaled["spec"]
        assert (spec.get("minReplicaCount", 0), spec["maxReplicaCount"]) == (int(row["min"]), int(row["max"]))
        triggers = {
            f"kafka lag {t['metadata']['topic']}": t["metadata"]["lagThreshold"]
            for t in spec["triggers"]
            if t["type"] == "kafka"
        }
        assert triggers == wanted
        assert spec["cooldownPeriod"] == seconds(row["cooldown"])
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    else:
        assert row["autoscaler"] == "none" and not hpa_for(name) and not scaled_object_for(name)
        assert deployment(name)["spec"]["replicas"] == int(row["min"]) == int(row["max"])
        return
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == seconds(row["scale-up window"])
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == seconds(row["scale-down window"])


@pytest.mark.parametrize("row", table("Per-replica caps"), ids=lambda row: row["setting"])
def test_the_per_replica_caps_the_derivation_assumes_are_set(row: dict[str, str]) -> None:
    assert container_env(row["service"]).get(row["setting"]) == row["value"]


def test_keda_reads_the_brokers_and_the_groups_the_services_use() -> None:
    from agent_common.topics import RAG_REINDEX, TOOL_CALLS

    for name, topic in (("tool-runner", TOOL_CALLS), ("rag-indexer", RAG_REINDEX)):
        scaled = scaled_object_for(name)
        assert scaled, name
        [trigger] = scaled["spec"]["triggers"]
        meta = trigger["metadata"]
        assert (meta["topic"], meta["consumerGroup"]) == (topic.name, topic.consumer_group)
        # The brokers as the service's own container has them (its bus settings), never a second copy.
        assert meta["bootstrapServersFromEnv"] == "BUS_KAFKA_BOOTSTRAP_SERVERS"
        assert "BUS_KAFKA_BOOTSTRAP_SERVERS" in container_env(name)
        # Never more consumers than partitions: an idle member adds nothing.
        assert meta["allowIdleConsumers"] == "false"
        assert scaled["spec"]["maxReplicaCount"] <= topic.partitions
