"""deploy/k8s agrees with the code it deploys.

Every manifest parses; every variable a container gets (its `env` and the keys
of the ConfigMaps it takes with `envFrom`) is a setting of that service;
probes, ports, resources and the security context are what the images need.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from agent_common.topics import CHAT_REQUESTS
from tests.deploy import (
    REPO,
    parse_dockerfile,
    service_dockerfiles,
    service_secret_env,
    service_settings_env,
    unknown_env,
)
from tests.support.services import require_service

K8S = REPO / "deploy" / "k8s"
LABEL = "app.kubernetes.io/name"


@cache
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@cache
def manifests() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return tuple(docs)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def config_maps() -> dict[str, dict[str, str]]:
    """ConfigMap name -> data, from the generator and from ConfigMap manifests."""
    maps = {
        name: {str(k): str(v) for k, v in (d.get("data") or {}).items()} for name, d in of_kind("ConfigMap").items()
    }
    for generator in kustomization().get("configMapGenerator") or []:
        data: dict[str, str] = {}
        for literal in generator.get("literals") or []:
            key, sep, value = literal.partition("=")
            assert sep, f"{generator['name']}: literal {literal!r} has no '='"
            data[key] = value
        for env_file in generator.get("envs") or []:
            for line in (K8S / env_file).read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    data[key.strip()] = value
        assert not generator.get("files"), "settings are variables, not files"
        maps[generator["name"]] = data
    return maps


DEPLOYMENTS = sorted(of_kind("Deployment"))


def deployment(name: str) -> dict[str, Any]:
    return of_kind("Deployment")[name]


def pod_spec(name: str) -> dict[str, Any]:
    return deployment(name)["spec"]["template"]["spec"]


def container(name: str) -> dict[str, Any]:
    containers = pod_spec(name)["containers"]
    assert len(containers) == 1, f"{name}: one container per pod"
    return containers[0]


def service_dir(name: str) -> str:
    svc_dir = deployment(name)["spec"]["template"]["metadata"]["labels"][LABEL]
    assert svc_dir in service_dockerfiles(), f"{name}: {LABEL}={svc_dir} is not a services/<dir> with a Dockerfile"
    return str(svc_dir)


def container_env(name: str) -> dict[str, str | None]:
    """Every variable the container receives: `env` (None where it comes from a
    secret) and the keys of its `envFrom` ConfigMaps."""
    spec = container(name)
    env: dict[str, str | None] = {}
    maps = config_maps()
    for source in spec.get("envFrom") or []:
        assert set(source) <= {"configMapRef"}, (
            f"{name}: envFrom {source}: only ConfigMaps (a Secret's keys are unknown here)"
        )
        ref = source["configMapRef"]["name"]
        assert ref in maps, f"{name}: envFrom names ConfigMap {ref}, which is not defined"
        env.update(maps[ref])
    for item in spec.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]
            if "configMapKeyRef" in ref:
                cm = ref["configMapKeyRef"]
                assert cm["key"] in maps.get(cm["name"], {}), f"{name}: {cm} does not exist"
                env[item["name"]] = maps[cm["name"]][cm["key"]]
            else:
                assert set(ref) == {"secretKeyRef"}, f"{name}: {item['name']} comes from {ref}"
                env[item["name"]] = None
    return env


def container_port(name: str, port: int | str) -> int:
    ports = container(name).get("ports") or []
    if isinstance(port, str):
        matches = [p["containerPort"] for p in ports if p.get("name") == port]
        assert matches, f"{name}: no container port named {port}"
        return int(matches[0])
    assert port in [p["containerPort"] for p in ports], f"{name}: {port} is not a container port"
    return port


def listen_port(name: str) -> int:
    svc_dir = service_dir(name)
    keys = [k for k in service_settings_env(svc_dir) if k.endswith("_PORT")]
    assert len(keys) == 1, f"{svc_dir}: expected one *_PORT setting, found {keys}"
    value = container_env(name).get(keys[0]) or parse_dockerfile(service_dockerfiles()[svc_dir])[-1].env().get(keys[0])
    assert value, f"{name}: {keys[0]} is set neither in the manifest nor in the image"
    return int(value)


def hpa_for(name: str) -> dict[str, Any] | None:
    for hpa in of_kind("HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] == "Deployment" and ref["name"] == name:
            return hpa
    return None


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
    kinds = {d["kind"] for d in yaml.safe_load_all(done.stdout) if d}
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
    assert sorted(service_dir(n) for n in DEPLOYMENTS) == sorted(service_dockerfiles())


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
def test_secrets_come_from_secret_refs_only(name: str) -> None:
    secrets = service_secret_env(service_dir(name))
    for key, value in container_env(name).items():
        if key in secrets or any(word in key for word in ("API_KEY", "PASSWORD", "TOKEN")):
            # A URL setting is held as a secret for the password it may carry; without one it may be plain.
            without_password = value is not None and "://" in value and urlsplit(value).password is None
            assert value is None or without_password, f"{name}: {key} is written in plain text"


# ---- secrets as mounted files, from AWS Secrets Manager ------------------------------------------


def secret_volumes(name: str) -> dict[str, tuple[str, list[str]]]:
    """Mount path -> (Secret name, file names) for each Secret volume the container mounts."""
    volumes = {v["name"]: v["secret"] for v in pod_spec(name).get("volumes") or [] if "secret" in v}
    mounted: dict[str, tuple[str, list[str]]] = {}
    for mount in container(name).get("volumeMounts") or []:
        if mount["name"] in volumes:
            secret = volumes[mount["name"]]
            assert mount.get("readOnly") is True, f"{name}: secret volume {mount['name']} is writable"
            assert secret.get("items"), f"{name}: list the Secret's keys (items), so no stray key becomes a file"
            mounted[mount["mountPath"]] = (secret["secretName"], [i["path"] for i in secret["items"]])
    return mounted


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_mounted_secret_files_are_secret_settings_read_from_the_secrets_dir(name: str) -> None:
    mounted = secret_volumes(name)
    if not mounted:
        return
    assert len(mounted) == 1, f"{name}: one secrets folder (PLATFORM_SECRETS_DIR)"
    ((path, (_, files)),) = mounted.items()
    assert container_env(name).get("PLATFORM_SECRETS_DIR") == path
    secrets = service_secret_env(service_dir(name))
    assert files and set(files) <= secrets, f"{name}: {sorted(set(files) - secrets)} are not secret settings"


def test_the_model_key_reaches_the_orchestrator_as_a_file() -> None:
    files = [f for _, fs in secret_volumes("orchestrator").values() for f in fs]
    assert "MODEL_API_KEY" in files
    assert "MODEL_API_KEY" not in container_env("orchestrator")


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_services_holding_secrets_run_the_production_profile(name: str) -> None:
    if "PLATFORM_PROFILE" not in service_settings_env(service_dir(name)):
        return  # the service has no profile: it holds no secret (tool runner, offline model)
    assert container_env(name).get("PLATFORM_PROFILE") == "production"


def test_every_mounted_secret_is_made_by_an_external_secret_with_its_keys() -> None:
    external = of_kind("ExternalSecret")
    for name in DEPLOYMENTS:
        for secret_name, files in secret_volumes(name).values():
            makers = [e for e in external.values() if e["spec"]["target"]["name"] == secret_name]
            assert len(makers) == 1, f"{name}: Secret {secret_name} is made by {len(makers)} ExternalSecrets"
            keys = {d["secretKey"] for d in makers[0]["spec"]["data"]}
            assert set(files) <= keys, f"{secret_name}: {sorted(set(files) - keys)} not provided"


def test_external_secrets_read_aws_secrets_manager_through_an_irsa_service_account() -> None:
    stores = of_kind("SecretStore")
    accounts = of_kind("ServiceAccount")
    assert of_kind("ExternalSecret"), "the model key comes from AWS Secrets Manager"
    for name, external in of_kind("ExternalSecret").items():
        ref = external["spec"]["secretStoreRef"]
        assert ref["kind"] == "SecretStore" and ref["name"] in stores, f"{name}: store {ref}"
        aws = stores[ref["name"]]["spec"]["provider"]["aws"]
        assert aws["service"] == "SecretsManager" and aws["region"]
        account = aws["auth"]["jwt"]["serviceAccountRef"]["name"]
        assert account in accounts, f"SecretStore {ref['name']} authenticates as {account}, which is not defined"
        role = accounts[account]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert role.startswith("arn:aws:iam::") and ":role/" in role


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_service_listens_on_all_interfaces(name: str) -> None:
    svc_dir = service_dir(name)
    keys = [k for k in service_settings_env(svc_dir) if k.endswith("_HOST")]
    assert len(keys) == 1
    image = parse_dockerfile(service_dockerfiles()[svc_dir])[-1].env()
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
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    compose_images = {
        Path(s["build"]["dockerfile"]).parent.name: s["image"].split(":")[0] for s in compose.values() if "build" in s
    }
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
    user = parse_dockerfile(service_dockerfiles()[service_dir(name)])[-1].all("USER")[-1].split(":")[0]
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


def test_the_tool_runners_network_policy_denies_what_http_get_denies() -> None:
    """The NetworkPolicy is a second wall: every private and metadata range the code
    refuses (IPv4 and IPv6) is excluded from the public egress rule."""
    import ipaddress

    from agent_tool_runner.web.egress import METADATA_NETWORKS, PRIVATE_NETWORKS

    policy = of_kind("NetworkPolicy")["tool-runner-egress"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {LABEL: "tool-runner"}
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    public_rules = [r for r in policy["spec"]["egress"] if any("ipBlock" in t for t in r["to"])]
    assert len(public_rules) == 1
    (rule,) = public_rules
    assert {p["port"] for p in rule["ports"]} == {80, 443}  # TOOL_HTTP_ALLOWED_PORTS' default
    excluded = [ipaddress.ip_network(cidr) for block in rule["to"] for cidr in block["ipBlock"]["except"]]
    for network in (*PRIVATE_NETWORKS, *METADATA_NETWORKS):
        assert any(
            network.version == e.version and network.subnet_of(e)  # type: ignore[arg-type]
            for e in excluded
        ), f"{network} is reachable through the tool runner's egress policy"
    kafka = urlsplit("//" + config_maps()["bus-settings"]["BUS_KAFKA_BOOTSTRAP_SERVERS"].split(",")[0])
    namespace = (kafka.hostname or "").split(".")[1]
    kafka_rules = [
        r for r in policy["spec"]["egress"]
        if any(t.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == namespace
               for t in r["to"])
    ]  # fmt: skip
    assert kafka_rules and {p["port"] for p in kafka_rules[0]["ports"]} == {kafka.port}
