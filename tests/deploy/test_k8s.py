"""deploy/k8s agrees with the code it deploys.

Every manifest parses; every variable a container gets (its `env` and the keys
of the ConfigMaps it takes with `envFrom`) is a setting of that service;
probes, ports, resources and the security context are what the images need.
Secrets and egress are in `test_k8s_access.py`.
"""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from agent_common.topics import CHAT_REQUESTS
from tests.deploy import (
    REPO,
    service_images,
    service_settings_env,
    unknown_env,
    yaml_files,
)
from tests.deploy.k8s import (
    DEPLOYMENTS,
    K8S,
    config_maps,
    container,
    container_env,
    container_port,
    deployment,
    hpa_for,
    kustomization,
    listen_port,
    manifests,
    of_kind,
    pod_spec,
    service_dir,
)
from tests.support.services import require_service

# ---- the files -------------------------------------------------------------------------


def test_every_manifest_parses_into_named_objects() -> None:
    assert manifests()
    for doc in manifests():
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), doc


def test_every_kustomization_resource_exists_and_every_manifest_is_listed() -> None:
    resources = kustomization()["resources"]
    for resource in resources:
        assert (K8S / resource).exists(), f"kustomization names {resource}, which does not exist"
    listed = {(K8S / r).resolve() for r in resources}
    on_disk = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk <= listed, f"not in the kustomization: {sorted(str(p) for p in on_disk - listed)}"


def test_kustomize_builds_the_base() -> None:
    if shutil.which("kubectl") is None:
        require_service("kubectl", "kubectl is not installed")
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = {d["kind"] for d in yaml_files.load_all(done.stdout) if d}
    assert {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds


def test_no_secret_values_are_committed() -> None:
    assert not of_kind("Secret"), "Secrets are created outside the repository (deploy/README.md)"
    assert not kustomization().get("secretGenerator")


def test_every_service_with_a_dockerfile_is_deployed() -> None:
    assert sorted(service_dir(n) for n in DEPLOYMENTS) == sorted(service_images())


# ---- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_variable_is_a_setting_of_the_service(name: str) -> None:
    unknown = unknown_env(service_dir(name), container_env(name))
    assert not unknown, f"{name}: {unknown} are not settings of this service (see docs/configuration.md)"


def test_a_bogus_config_map_key_would_be_caught() -> None:
    for name in DEPLOYMENTS:
        assert unknown_env(service_dir(name), [*container_env(name), "BUS_BOGUS"]) == ["BUS_BOGUS"]


def test_every_config_map_is_used() -> None:
    used = {s["configMapRef"]["name"] for n in DEPLOYMENTS for s in container(n).get("envFrom") or []}
    used |= {
        item["valueFrom"]["configMapKeyRef"]["name"]
        for n in DEPLOYMENTS
        for item in container(n).get("env") or []
        if "configMapKeyRef" in item.get("valueFrom", {})
    }
    assert set(config_maps()) <= used, f"unused: {sorted(set(config_maps()) - used)}"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_service_listens_on_all_interfaces(name: str) -> None:
    svc_dir = service_dir(name)
    keys = [k for k in service_settings_env(svc_dir) if k.endswith("_HOST")]
    assert len(keys) == 1
    image = service_images()[svc_dir].runtime.env()
    assert (container_env(name).get(keys[0]) or image.get(keys[0])) == "0.0.0.0"


# ---- probes, ports, services -------------------------------------------------------------


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_probes_point_at_health_and_ready_on_the_service_port(name: str) -> None:
    spec = container(name)
    port = listen_port(name)
    assert container_port(name, port) == port
    expected = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/health"}
    for probe, path in expected.items():
        if probe == "startupProbe" and probe not in spec:
            continue
        http = spec[probe]["httpGet"]
        assert http["path"] == path, f"{name}: {probe} -> {http['path']}"
        assert container_port(name, http["port"]) == port, f"{name}: {probe} port"


def test_services_select_a_deployment_and_target_its_port() -> None:
    for name, service in of_kind("Service").items():
        selector = service["spec"]["selector"]
        targets = [
            d
            for d in DEPLOYMENTS
            if selector.items() <= deployment(d)["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, f"Service {name} selects {targets}"
        for port in service["spec"]["ports"]:
            assert container_port(targets[0], port.get("targetPort", port["port"])) == listen_port(targets[0])


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_selector_matches_the_pod_labels(name: str) -> None:
    spec = deployment(name)["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_images_match_compose_and_the_kustomization() -> None:
    compose = yaml_files.load(REPO / "docker-compose.yml")["services"]
    compose_images = {s["build"]["target"]: s["image"].split(":")[0] for s in compose.values() if "build" in s}
    overridden = {i["name"] for i in kustomization().get("images") or []}
    for name in DEPLOYMENTS:
        image = container(name)["image"]
        assert image == compose_images[service_dir(name)], f"{name}: {image}"
        assert image in overridden, f"{name}: {image} has no tag in the kustomization's images"


# ---- resources, security, scaling --------------------------------------------------------


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_resources_are_requested_and_limited(name: str) -> None:
    resources = container(name)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind}"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_pods_run_unprivileged_on_a_read_only_root(name: str) -> None:
    pod = pod_spec(name)
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = container(name)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    user = service_images()[service_dir(name)].runtime.all("USER")[-1].split(":")[0]
    assert str(pod["securityContext"].get("runAsUser", user)) == user, "the image's user"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_service_links_are_off(name: str) -> None:
    # Kubernetes injects <SERVICE>_PORT=tcp://ip:port for every Service; for the
    # Services `gateway`, `orchestrator`, `tool-runner` and `offline-model` those
    # are GATEWAY_PORT, ORCHESTRATOR_PORT, ... : the services' own port settings.
    assert pod_spec(name).get("enableServiceLinks") is False


@pytest.mark.parametrize("name", ["gateway", "orchestrator"])
def test_gateway_and_orchestrator_autoscale_and_survive_disruptions(name: str) -> None:
    hpa = hpa_for(name)
    assert hpa, f"{name} has no HorizontalPodAutoscaler"
    spec = hpa["spec"]
    assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in spec["metrics"])
    labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
    pdbs = [
        p
        for p in of_kind("PodDisruptionBudget").values()
        if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(pdbs) == 1, f"{name}: {len(pdbs)} PodDisruptionBudgets"
    # a budget that needs every pod blocks node drains
    assert pdbs[0]["spec"]["minAvailable"] < spec["minReplicas"]


def test_every_autoscaler_targets_a_deployment_that_leaves_it_the_count() -> None:
    for name, hpa in of_kind("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        assert target in DEPLOYMENTS, f"HPA {name} targets {target}"
        assert "replicas" not in deployment(target)["spec"], f"{target}: `replicas` fights the HPA on every apply"


def test_the_orchestrator_never_scales_past_its_partitions() -> None:
    hpa = hpa_for("orchestrator")
    assert hpa and hpa["spec"]["maxReplicas"] <= CHAT_REQUESTS.partitions


def test_in_cluster_addresses_name_a_service_on_its_port() -> None:
    services = of_kind("Service")
    for name in DEPLOYMENTS:
        for key, value in container_env(name).items():
            if not value or "://" not in value:
                continue
            url = urlsplit(value)
            if url.hostname in services:
                ports = [p["port"] for p in services[url.hostname]["spec"]["ports"]]
                assert url.port in ports, f"{name}: {key}={value}, Service {url.hostname} serves {ports}"
