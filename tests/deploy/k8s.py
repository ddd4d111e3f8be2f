"""Reading deploy/k8s: the kustomization, its manifests, and what each Deployment's container gets."""

from __future__ import annotations

from functools import cache
from typing import Any

from tests.deploy import (
    REPO,
    service_images,
    service_settings_env,
    yaml_files,
)

K8S = REPO / "deploy" / "k8s"
LABEL = "app.kubernetes.io/name"
# ConfigMaps that are files a pod mounts, not settings: the price file (docs/cost.md).
FILE_CONFIG_MAPS = {"usage-prices"}


@cache
def kustomization() -> dict[str, Any]:
    return yaml_files.load(K8S / "kustomization.yaml")


@cache
def manifests() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += yaml_files.load_all(path)
    return tuple(docs)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def config_maps() -> dict[str, dict[str, str]]:
    """ConfigMap name -> data, from the generator and from ConfigMap manifests."""
    maps = {
        name: {str(k): str(v) for k, v in (d.get("data") or {}).items()} for name, d in of_kind("ConfigMap").items()
    }
    for generator in kustomization().get("configMapGenerator") or []:
        if generator["name"] in FILE_CONFIG_MAPS:
            continue
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
        assert not generator.get("files"), f"{generator['name']}: settings are variables, not files"
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
    assert svc_dir in service_images(), f"{name}: {LABEL}={svc_dir} is not a services/<dir> with an image"
    return str(svc_dir)


def container_env(name: str) -> dict[str, str | None]:
    """Every variable the container receives: `env` (None where it comes from a
    secret, a pod's name where it is the pod's name) and the keys of its `envFrom` ConfigMaps."""
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
            elif "fieldRef" in ref:
                # The downward API: only the pod's own name, which is what Kubernetes gives a pod of `name`.
                assert ref["fieldRef"] == {"fieldPath": "metadata.name"}, f"{name}: {item['name']} comes from {ref}"
                env[item["name"]] = f"{name}-7d4b9c8f5-x2k9p"
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
    # The service's own port; METRICS_PORT (the scraper's, metrics_port()) is another.
    keys = [k for k in service_settings_env(svc_dir) if k.endswith("_PORT") and k != "METRICS_PORT"]
    assert len(keys) == 1, f"{svc_dir}: expected one *_PORT setting besides METRICS_PORT, found {keys}"
    value = container_env(name).get(keys[0]) or service_images()[svc_dir].runtime.env().get(keys[0])
    assert value, f"{name}: {keys[0]} is set neither in the manifest nor in the image"
    return int(value)


def hpa_for(name: str) -> dict[str, Any] | None:
    for hpa in of_kind("HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] == "Deployment" and ref["name"] == name:
            return hpa
    return None


def metrics_port(name: str) -> int | None:
    """The port the container serves /metrics on (METRICS_PORT; unset: its port + 1000), if it has one."""
    if "METRICS_PORT" not in service_settings_env(service_dir(name)):
        return None
    value = container_env(name).get("METRICS_PORT")
    return int(value) if value else listen_port(name) + 1000


def scaled_object_for(name: str) -> dict[str, Any] | None:
    """KEDA's ScaledObject of a Deployment (KEDA makes and owns its HorizontalPodAutoscaler)."""
    for scaled in of_kind("ScaledObject").values():
        ref = scaled["spec"]["scaleTargetRef"]
        if ref.get("kind", "Deployment") == "Deployment" and ref["name"] == name:
            return scaled
    return None


def replica_bounds(name: str) -> tuple[int, int] | None:
    """(min, max) replicas of a Deployment's autoscaler, an HPA or a KEDA ScaledObject; None without one."""
    if hpa := hpa_for(name):
        return int(hpa["spec"]["minReplicas"]), int(hpa["spec"]["maxReplicas"])
    if scaled := scaled_object_for(name):
        return int(scaled["spec"].get("minReplicaCount", 0)), int(scaled["spec"]["maxReplicaCount"])
    return None
