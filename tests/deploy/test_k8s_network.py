"""deploy/k8s's NetworkPolicies let through exactly what each service needs.

What a service needs is read from what it is given, never listed by hand: the
addresses in its settings (ConfigMaps and env), the secret addresses it mounts,
the internet for the one service that fetches from it (the tool runner), DNS;
and, coming in, Prometheus on the port its scrape annotation names, the Ingress
controller on a port an Ingress routes to, and the pods whose settings name its
Service. Every pod starts from a default deny in both directions; a rule nobody
needs (or one open to any peer or port) fails, and so does a need no rule allows.
"""

from __future__ import annotations

import copy
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from tests.deploy import service_settings_env
from tests.deploy.k8s import (
    DEPLOYMENTS,
    LABEL,
    container_env,
    container_port,
    deployment,
    of_kind,
    pod_spec,
    service_dir,
)

NAMESPACE_LABEL = "kubernetes.io/metadata.name"
# Who scrapes and who fronts the gateway: the namespaces and pod labels the
# base expects (deploy/README.md says so; an overlay changes both together).
PROMETHEUS = ("observability", "prometheus")
INGRESS_CONTROLLER = ("ingress-nginx", "ingress-nginx")
DNS = ("kube-system", "kube-dns")
# Addresses held in Secrets are not in the repository; where the base expects them.
SECRET_ADDRESSES = {
    "REDIS_URL": "redis://redis-master.redis.svc.cluster.local:6379/0",
    "RAG_STORE_URL": "postgresql://agent@documents-rw.postgres.svc.cluster.local:5432/documents",
    "USAGE_LEDGER_URL": "postgresql://agent@documents-rw.postgres.svc.cluster.local:5432/usage",
}
INTERNET = ("internet", None)
# The ports http_get may fetch from by default (TOOL_HTTP_ALLOWED_PORTS).
WEB_PORTS = (80, 443)


class Flow(NamedTuple):
    """One allowed or needed connection: a peer (namespace, `None` for this one; pod name,
    `None` for any pod) and the pod port. `port` is `None` for a rule without ports."""

    namespace: str | None
    pod: str | None
    port: int | None


# ---- what the policies allow ------------------------------------------------------------


def selects(policy: dict[str, Any], name: str) -> bool:
    labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
    wanted = policy["spec"]["podSelector"].get("matchLabels") or {}
    assert not policy["spec"]["podSelector"].get("matchExpressions"), "matchLabels only, so this test can read it"
    return bool(wanted.items() <= labels.items())


def _peer(peer: dict[str, Any]) -> tuple[str | None, str | None]:
    if "ipBlock" in peer:
        return INTERNET
    namespace = None
    if "namespaceSelector" in peer:
        namespace = (peer["namespaceSelector"].get("matchLabels") or {}).get(NAMESPACE_LABEL, "any namespace")
    pods = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return namespace, pods.get(LABEL) or pods.get("k8s-app")


def rule_flows(rule: dict[str, Any], direction: str) -> set[Flow]:
    """A rule without peers allows any peer; one without ports, any port."""
    peers = rule.get("to" if direction == "egress" else "from")
    ends = [_peer(p) for p in peers] if peers else [("anywhere", None)]
    ports: list[int | None] = [int(p["port"]) for p in rule.get("ports") or []] or [None]
    return {Flow(ns, pod, port) for ns, pod in ends for port in ports}


def allowed(name: str, direction: str, policies: list[dict[str, Any]]) -> set[Flow]:
    kind = "Ingress" if direction == "ingress" else "Egress"
    return {
        flow
        for policy in policies
        if selects(policy, name) and kind in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get(direction) or []
        for flow in rule_flows(rule, direction)
    }


# ---- what each service needs ------------------------------------------------------------


def _addresses(value: str) -> list[tuple[str, int]]:
    found = []
    for item in value.split(","):
        item = item.strip()
        url = urlsplit(item if "://" in item else f"//{item}")
        if url.hostname and re.fullmatch(r"[a-z0-9.-]+", url.hostname) and url.port:
            found.append((url.hostname, url.port))
    return found


def _target(host: str, port: int) -> Flow | None:
    """The pods behind an address: a Service of the base (its pods' port), or a Service
    in another namespace (`name.namespace.svc...`)."""
    services = of_kind("Service")
    if host in services:
        service = services[host]
        selector = {"spec": {"podSelector": {"matchLabels": service["spec"]["selector"]}}}
        (pod,) = [d for d in DEPLOYMENTS if selects(selector, d)]
        (entry,) = [p for p in service["spec"]["ports"] if p["port"] == port]
        return Flow(None, pod, container_port(pod, entry.get("targetPort", port)))
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc":
        return Flow(parts[1], None, port)
    return None


def mounted_secret_settings(name: str) -> set[str]:
    files: set[str] = set()
    for volume in pod_spec(name).get("volumes") or []:
        projected = (volume.get("projected") or {}).get("sources", [])
        sources = [{"secret": volume["secret"]}] if "secret" in volume else projected
        files |= {item["path"] for s in sources for item in (s.get("secret") or {}).get("items", [])}
    return files


def needed_egress(name: str) -> set[Flow]:
    values = [v for v in container_env(name).values() if v]
    values += [SECRET_ADDRESSES[k] for k in mounted_secret_settings(name) if k in SECRET_ADDRESSES]
    needs = {Flow(*DNS, 53)}
    for value in values:
        needs |= {flow for host, port in _addresses(value) if (flow := _target(host, port))}
    # The service that fetches pages reads the ports it may fetch from; the orchestrator reads
    # the allowlist too, but only to judge the links in answers: it fetches nothing.
    if "TOOL_HTTP_ALLOWED_PORTS" in service_settings_env(service_dir(name)):
        needs |= {Flow(*INTERNET, port) for port in WEB_PORTS}
    return needs


def needed_ingress(name: str) -> set[Flow]:
    needs: set[Flow] = set()
    annotations = deployment(name)["spec"]["template"]["metadata"].get("annotations") or {}
    if annotations.get("prometheus.io/scrape") == "true":
        needs.add(Flow(*PROMETHEUS, int(annotations["prometheus.io/port"])))
    for ingress in of_kind("Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                flow = _target(backend["name"], _service_port(backend["name"], backend["port"]))
                if flow and flow.pod == name:
                    needs.add(Flow(*INGRESS_CONTROLLER, flow.port))
    for caller in DEPLOYMENTS:
        for value in [v for v in container_env(caller).values() if v]:
            for host, port in _addresses(value):
                flow = _target(host, port)
                if flow and flow.namespace is None and flow.pod == name:
                    needs.add(Flow(None, caller, flow.port))
    return needs


def _service_port(service: str, port: dict[str, Any]) -> int:
    if "number" in port:
        return int(port["number"])
    (entry,) = [p for p in of_kind("Service")[service]["spec"]["ports"] if p.get("name") == port["name"]]
    return int(entry["port"])


def _justified(flow: Flow, needs: set[Flow], direction: str) -> bool:
    if direction == "ingress":
        return flow in needs  # exactly the peer that calls, no wider
    # egress may narrow a namespace to its pods, never widen a pod to its namespace
    return any(n.namespace == flow.namespace and n.port == flow.port and n.pod in (None, flow.pod) for n in needs)


def _met(need: Flow, flows: set[Flow], direction: str) -> bool:
    return any(_justified(f, {need}, direction) for f in flows)


def problems(name: str, policies: list[dict[str, Any]]) -> list[str]:
    found = []
    for direction, needs in (("ingress", needed_ingress(name)), ("egress", needed_egress(name))):
        flows = allowed(name, direction, policies)
        found += [f"{direction} allowed but not needed: {f}" for f in flows if not _justified(f, needs, direction)]
        found += [f"{direction} needed but not allowed: {n}" for n in needs if not _met(n, flows, direction)]
    return sorted(found)


# ---- the tests ----------------------------------------------------------------------------

POLICIES = list(of_kind("NetworkPolicy").values())


def test_every_pod_starts_from_a_default_deny_both_ways() -> None:
    deny = [
        p
        for p in POLICIES
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1, "one NetworkPolicy selecting every pod, with no rule, for Ingress and Egress"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_each_service_has_a_policy_of_its_own(name: str) -> None:
    own = [p for p in POLICIES if p["spec"]["podSelector"] and selects(p, name)]
    assert len(own) == 1, f"{name}: {len(own)} NetworkPolicies select its pods"
    assert set(own[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_policies_allow_exactly_what_the_service_needs(name: str) -> None:
    assert not problems(name, POLICIES)


def test_a_rule_too_wide_or_missing_would_be_caught() -> None:
    policies = copy.deepcopy(POLICIES)
    gateway = next(p for p in policies if p["metadata"]["name"] == "gateway")
    gateway["spec"]["ingress"].append({"ports": [{"port": 8000}]})  # from anyone
    gateway["spec"]["egress"] = [r for r in gateway["spec"]["egress"] if "redis" not in str(r)]
    gateway["spec"]["egress"].append({"to": [{"namespaceSelector": {}}]})  # any namespace, any port
    found = problems("gateway", policies)
    assert any("ingress allowed but not needed" in f and "anywhere" in f for f in found)
    assert any("egress needed but not allowed" in f and "redis" in f for f in found)
    assert any("egress allowed but not needed" in f and "None)" in f for f in found)


def test_only_the_tool_runner_reaches_the_internet() -> None:
    reach = [n for n in DEPLOYMENTS if any(f.namespace == "internet" for f in allowed(n, "egress", POLICIES))]
    assert reach == ["tool-runner"]
