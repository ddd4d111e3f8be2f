"""deploy/k8s agrees with the code it deploys.

Every manifest parses; every variable a container gets (its `env` and the keys
of the ConfigMaps it takes with `envFrom`) is a setting of that service;
probes, ports, resources and the security context are what the images need.
Secrets and egress are in `test_k8s_access.py`.
"""

from __future__ import annotations

import re
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
    metrics_port,
    of_kind,
    pod_spec,
    replica_bounds,
    scaled_object_for,
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


# ---- availability: every Deployment autoscales and has a disruption budget, or says why not ------

NO_AUTOSCALER = "agent-platform/no-autoscaler"
NO_DISRUPTION_BUDGET = "agent-platform/no-disruption-budget"


def disruption_budgets(name: str) -> list[dict[str, object]]:
    labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
    return [
        p
        for p in of_kind("PodDisruptionBudget").values()
        if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_deployment_autoscales_or_says_why_not(name: str) -> None:
    reason = (deployment(name)["metadata"].get("annotations") or {}).get(NO_AUTOSCALER, "")
    bounds = replica_bounds(name)
    assert bool(bounds) != bool(reason.strip()), (
        f"{name}: an HPA or a KEDA ScaledObject, or a reason in the annotation {NO_AUTOSCALER}"
    )
    assert not (hpa_for(name) and scaled_object_for(name)), f"{name}: two autoscalers fight over its count"
    if bounds:
        # Only KEDA scales to zero (an HPA's floor is one replica); a Deployment it scales leaves it the count.
        floor = 0 if scaled_object_for(name) else 1
        assert floor <= bounds[0] <= bounds[1]
        assert "replicas" not in deployment(name)["spec"], f"{name}: `replicas` fights the autoscaler on every apply"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_deployment_has_a_disruption_budget_or_says_why_not(name: str) -> None:
    reason = (deployment(name)["metadata"].get("annotations") or {}).get(NO_DISRUPTION_BUDGET, "")
    budgets = disruption_budgets(name)
    assert len(budgets) == (0 if reason.strip() else 1), (
        f"{name}: one PodDisruptionBudget, or a reason in the annotation {NO_DISRUPTION_BUDGET}"
    )
    bounds = replica_bounds(name)
    if budgets and bounds:
        # a budget that needs every pod blocks node drains
        assert budgets[0]["spec"]["minAvailable"] < bounds[0]  # type: ignore[operator]


def test_consumers_never_scale_past_their_partitions() -> None:
    from agent_common.topics import TOOL_CALLS

    # The tool runner scales on its lag with KEDA's Kafka scaler (docs/sizing.md), which adds no consumer
    # a partition could not keep busy.
    bounds = replica_bounds("tool-runner")
    assert bounds and bounds[1] <= TOOL_CALLS.partitions


# ---- images: from a registry, pinned by digest ---------------------------------------------------

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_problem(reference: str) -> str | None:
    """Why an image reference is not deployable as is: no registry host, or not pinned by digest."""
    first, sep, _ = reference.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        return f"{reference}: no registry host"
    if not DIGEST.search(reference):
        return f"{reference}: not pinned by digest (a tag such as :latest can be moved)"
    return None


def test_an_image_without_registry_or_digest_would_be_refused() -> None:
    for bad in ("agent-gateway", "agent-gateway:latest", "registry.example.com/agent-gateway:latest",
                "registry.example.com/agent-gateway", "library/agent-gateway@sha256:" + "0" * 64):  # fmt: skip
        assert image_problem(bad), bad
    assert image_problem("registry.example.com/a/agent-gateway@sha256:" + "ab" * 32) is None


def test_the_kustomization_pins_every_image_to_a_registry_and_a_digest() -> None:
    entries = {i["name"]: i for i in kustomization()["images"]}
    for name in DEPLOYMENTS:
        entry = entries[container(name)["image"]]
        assert "newTag" not in entry, f"{entry['name']}: a tag; pin a digest"
        assert image_problem(f"{entry['newName']}@{entry['digest']}") is None


def test_rendered_pods_run_pinned_images() -> None:
    if shutil.which("kubectl") is None:
        require_service("kubectl", "kubectl is not installed")
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pods = [d["spec"]["template"]["spec"] for d in yaml_files.load_all(done.stdout) if d["kind"] == "Deployment"]
    images = [c["image"] for pod in pods for c in [*pod["containers"], *pod.get("initContainers", [])]]
    assert len(images) == len(DEPLOYMENTS)
    assert [p for p in map(image_problem, images) if p] == []


# ---- the public door: one Ingress, TLS on every host -----------------------------------------------


def test_only_the_gateway_is_exposed_and_only_over_tls() -> None:
    ingresses = of_kind("Ingress")
    assert ingresses, "the gateway needs an Ingress"
    for name, ingress in ingresses.items():
        spec = ingress["spec"]
        tls_hosts = {h for t in spec.get("tls") or [] for h in t["hosts"] if t.get("secretName")}
        for rule in spec["rules"]:
            assert rule.get("host") in tls_hosts, f"Ingress {name}: {rule.get('host')} is served without TLS"
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == "gateway", f"Ingress {name} exposes {path['backend']}"
        annotations = ingress["metadata"].get("annotations") or {}
        assert annotations.get("nginx.ingress.kubernetes.io/force-ssl-redirect") == "true", "plain HTTP redirects"
        # SSE: a buffering proxy would hold tokens back until its buffer fills
        assert annotations.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off"


# ---- metrics: on their own port, scraped there --------------------------------------------------


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_prometheus_scrapes_the_metrics_port_never_the_public_one(name: str) -> None:
    port = metrics_port(name)
    annotations = deployment(name)["spec"]["template"]["metadata"].get("annotations") or {}
    if port is None:
        assert "prometheus.io/scrape" not in annotations, f"{name} serves no metrics"
        return
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port != listen_port(name)
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"
    assert container_port(name, "metrics") == port
    for service in of_kind("Service").values():
        if service["spec"]["selector"].items() <= deployment(name)["spec"]["template"]["metadata"]["labels"].items():
            published = {container_port(name, p.get("targetPort", p["port"])) for p in service["spec"]["ports"]}
            assert port not in published, f"{name}: the Service publishes the metrics port"
