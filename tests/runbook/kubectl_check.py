"""Checking a `kubectl` command against the manifests it would act on: the namespace, each
resource it names (`deployment/gateway`, `get hpa orchestrator`, `argo rollouts ... gateway`),
its label selector, container, forwarded port and Secret key must exist in the rendered
deploy/rollouts (which includes deploy/k8s). `kubectl_problems` yields what does not."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tests.runbook.manifests import containers, pod_labels, resources
from tests.support.observability import ROOT

__all__ = ["NAMESPACE", "kubectl_problems", "option"]

NAMESPACE = "agent-platform"

KINDS = {
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deploy": "Deployment",
    "hpa": "HorizontalPodAutoscaler",
    "networkpolicy": "NetworkPolicy",
    "pdb": "PodDisruptionBudget",
    "externalsecret": "ExternalSecret",
    "secret": "Secret",
    "service": "Service",
    "svc": "Service",
    "rollout": "Rollout",
    "analysistemplate": "AnalysisTemplate",
}


def option(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(f"{name}="):
                return word.split("=", 1)[1]
    return None


VALUE_OPTIONS = {"-n", "--namespace", "-l", "--selector", "-c", "--container", "-o", "--output", "-k"}


def _positional(args: list[str]) -> list[str]:
    words, skip = [], False
    for word in args:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            words.append(word)
    return words


def kubectl_problems(words: list[str]) -> Iterator[str]:
    line = " ".join(words)
    if "--" in words:  # what follows runs in the container
        words = words[: words.index("--")]
    args = words[1:]
    if args[0] in ("kustomize", "apply"):
        target = option(words, "-k") or args[1]
        if not (ROOT / target / "kustomization.yaml").exists():
            yield f"{line}: no kustomization in {target}"
        return
    if option(words, "-n", "--namespace") != NAMESPACE:
        yield f"{line}: every command names the namespace {NAMESPACE}"
    if args[:2] == ["argo", "rollouts"]:
        name = _positional(args[2:])[-1]
        if name not in resources("Rollout"):
            yield f"{line}: no Rollout {name}"
        return
    verb, *targets = _positional(args)
    if verb == "rollout":
        targets = targets[1:]
    refs = [tuple(t.split("/", 1)) for t in targets if "/" in t]
    if not refs and len(targets) > 1 and targets[0] in KINDS:
        refs.append((targets[0], targets[1]))
    deployment: str | None = None
    for kind, name in refs:
        if name.startswith("<"):
            continue
        full = KINDS.get(kind)
        if full is None:
            yield f"{line}: unknown kind {kind}"
        elif name not in resources(full):
            yield f"{line}: no {full} {name} in deploy/rollouts"
        elif full == "Deployment":
            deployment = name
    if (label := option(words, "-l", "--selector")) is not None:
        key, _, value = label.partition("=")
        if not any(labels.get(key) == value for labels in pod_labels()):
            yield f"{line}: no pod labelled {label}"
        deployment = deployment or value
    if (container := option(words, "-c", "--container")) is not None:
        # A pod named by placeholder (`<pod>`): any Deployment's container will do.
        candidates = [deployment] if deployment else list(resources("Deployment"))
        if not any(container in containers(d) for d in candidates if d in resources("Deployment")):
            yield f"{line}: no container {container} in {deployment or 'any Deployment'}"
    if verb == "port-forward" and deployment:
        remote = int(targets[-1].split(":")[-1])
        ports = {p["containerPort"] for c in containers(deployment).values() for p in c.get("ports", [])}
        if remote not in ports:
            yield f"{line}: {deployment} has no container port {remote}"
    if (path := option(words, "-o")) and (key := re.search(r"\{\.data\.(\w+)\}", path)) and refs:
        external = resources("Secret").get(refs[0][1], {})
        keys = {d["secretKey"] for d in external.get("spec", {}).get("data", [])}
        if key[1] not in keys:
            yield f"{line}: Secret {refs[0][1]} has no key {key[1]} (it has {sorted(keys)})"
