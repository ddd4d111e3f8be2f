"""Every command in the operators' documents is real: a renamed metric, alert, Deployment, label,
container, port, Secret key, consumer group, table or `agent` option fails here, not at 3 a.m.

- PromQL: parsed by promtool, metric names and labels in docs/metrics.md, run against a real
  Prometheus scraping the embedded platform (`observed`);
- alerts: every alert the runbook names exists in the rules, and every alert of the rules has
  its place in the runbook;
- kubectl: namespaces, resources, labels, containers, ports and Secret keys of the rendered
  `deploy/rollouts` (which includes `deploy/k8s`);
- `agent`: each command's `--help`, with every option the line uses (the real runs are
  `test_handoff.py` and `test_rollout_watch.py`);
- redis-cli and psql: run against a real Redis and a real PostgreSQL with the platform's tables;
- kafka-consumer-groups.sh: its options, and groups the platform's topics define (the Kafka
  command-line tools are not among the jars the test broker is assembled from);
- links: every relative link and anchor resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import psycopg
import pytest
import yaml

from agent_common import topics
from agent_common.rag.store.postgres import migrate
from tests.runbook.conftest import Observed
from tests.runbook.kubectl_check import kubectl_problems, option
from tests.runbook.manifests import PROMETHEUS_OWN, catalogued
from tests.runbook.runbook_text import (
    OPERATOR_DOCS,
    ROOT,
    RUNBOOK,
    anchors,
    code_lines,
    named_alerts,
    relative_links,
    shell_commands,
    shell_lines,
)
from tests.support.observability import catalogue, metric_names, rule_groups, selectors
from tests.support.services import database_of_its_own

# Labels every series gets from the scrape, not from the process.
TARGET_LABELS = {"job", "instance", "service"}


def queries() -> list[str]:
    return code_lines("promql")


# --- PromQL ----------------------------------------------------------------------------------


def test_the_runbook_has_queries_for_every_failure_type() -> None:
    assert len(queries()) >= 25
    assert len(re.findall(r"^- \*\*Alerts:\*\*", RUNBOOK.read_text(), re.M)) >= 8


def test_every_query_reads_catalogued_metrics_and_labels() -> None:
    entries = catalogue()
    problems = []
    for query in queries():
        for name in metric_names(query):
            if catalogued(name) is None:
                problems.append(f"{query}: {name} is not in docs/metrics.md")
        for name, matchers in selectors(query):
            base = catalogued(name)
            if base is None or base in PROMETHEUS_OWN:
                continue
            known = entries[base].labels | TARGET_LABELS
            problems += [f"{query}: {name} has no label {m.label}" for m in matchers if m.label not in known]
    assert not problems, "\n".join(problems)


def test_every_query_parses(promtool: str, tmp_path: Path) -> None:
    rules = [{"record": f"runbook:query_{i}", "expr": q} for i, q in enumerate(queries())]
    path = tmp_path / "runbook.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbook", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_query_runs_against_a_real_prometheus(observed: Observed) -> None:
    for query in queries():
        observed.prometheus.query(query)  # raises on a query Prometheus refuses


def test_the_queries_find_what_the_platform_exports(observed: Observed) -> None:
    """Each series a query selects exists on a running platform (exported at 0 from start-up), but
    for what the embedded default cannot have: Kafka's lag and the bus's outages and dead letters,
    Redis's outages, the Kafka and Redis clients' faults, the indexer's commands, a secondary
    model's calls (none configured). The platform is a process of its own (`observed`): a series
    registered by a module another test imported cannot stand in for one it does not export."""
    distributed_only = {"kafka_consumer_lag_messages", "bus_dead_letters_total", "bus_handler_outages_past_bound_total"}
    distributed_only |= {"bus_handler_outage_retries_total", "infra_outage_retries_total"}
    distributed_only |= {"rag_reindex_commands_total", "rag_documents_total", "llm_secondary_calls_total"}
    distributed_only |= {"bus_client_faults_total", "redis_client_faults_total"}
    missing = []
    for query in queries():
        for name, matchers in selectors(query):
            if name in distributed_only or name == "ALERTS":
                continue
            if any(m.label == "check" and m.value == "store" for m in matchers):
                continue  # the indexer's own check: the embedded default reads its store in-process
            selector = name + "{" + ", ".join(f'{m.label}{m.op}"{m.value}"' for m in matchers) + "}"
            if name == "up" and "== 0" in query:
                selector = "up"
            if not observed.prometheus.query(selector):
                missing.append(f"{query}: {selector}")
    assert not missing, "\n".join(missing)


# --- alerts ----------------------------------------------------------------------------------


def test_the_alerts_named_are_the_rules_alerts_and_all_of_them() -> None:
    rules = {rule["alert"] for group in rule_groups() for rule in group["rules"]}
    named = named_alerts()
    assert named <= rules, f"not in the rules: {sorted(named - rules)}"
    assert rules <= named, f"alerts with no place in the runbook: {sorted(rules - named)}"


# --- kubectl ---------------------------------------------------------------------------------


def test_every_kubectl_command_names_what_the_manifests_define() -> None:
    commands = shell_commands("kubectl")
    assert len(commands) >= 25
    problems = [p for words in commands for p in kubectl_problems(words)]
    assert not problems, "\n".join(problems)


def test_the_kubectl_check_catches_a_renamed_resource() -> None:
    """The checker itself: a wrong name, label, container or port is a problem."""
    for wrong in (
        "kubectl rollout undo deployment/gatewey -n agent-platform",
        "kubectl get pods -n agent-platform -l app.kubernetes.io/name=orchestrater",
        "kubectl logs deployment/gateway -n agent-platform -c orchestrator",
        "kubectl port-forward deploy/gateway -n agent-platform 8000:8001",
        "kubectl get secret redis-url -n agent-platform -o jsonpath={.data.REDIS_PASSWORD}",
        "kubectl get pods",
    ):
        assert list(kubectl_problems(wrong.split())), wrong


def test_the_image_names_given_to_kustomize_are_the_kustomizations() -> None:
    images = {i["name"] for i in yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())["images"]}
    for words in shell_commands("kustomize"):
        name = words[-1].split("=", 1)[0]
        assert name in images, words


# --- agent -----------------------------------------------------------------------------------


@cache
def _agent_help(path: tuple[str, ...]) -> str:
    """`agent <path> --help`, in this process (argparse prints it and exits 0)."""
    from agent_cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0, f"agent {' '.join(path)} --help"
    return out.getvalue()


def agent_help(path: list[str]) -> str:
    return _agent_help(tuple(path))


def test_every_agent_command_and_option_exists() -> None:
    commands = shell_commands("agent")
    assert {words[1] for words in commands} >= {"handoff", "dead-letters", "keys"}
    for words in commands:
        path = [w for w in words[1:3] if not w.startswith("-") and not w.startswith("$")]
        if len(path) == 2 and path[1] not in agent_help(path[:1]):
            path = path[:1]
        text = agent_help(path)
        for used in (w.split("=")[0] for w in words if w.startswith("--")):
            assert used in text, f"{' '.join(words)}: agent {' '.join(path)} has no {used}"


# --- redis-cli and psql ----------------------------------------------------------------------


def run_lines(lines: list[str], env: dict[str, str]) -> list[str]:
    problems = []
    for line in lines:
        done = subprocess.run(
            ["sh", "-c", line], capture_output=True, text=True, timeout=30, env={**os.environ, **env}, check=False
        )
        if done.returncode != 0 or re.search(r"^(ERR|\(error\)|ERROR)", done.stdout + done.stderr, re.M):
            problems.append(f"{line}: {done.returncode} {done.stdout[-300:]} {done.stderr[-300:]}")
    return problems


def test_every_redis_cli_command_runs(redis_url: str) -> None:
    lines = shell_lines("redis-cli")
    assert len(lines) >= 5
    problems = run_lines(lines, {"REDIS_URL": redis_url})
    assert not problems, "\n".join(problems)


def test_every_psql_command_runs_on_the_platforms_tables(postgres_url: str) -> None:
    lines = shell_lines("psql")
    assert len(lines) >= 4
    with database_of_its_own(postgres_url, "runbook") as url:

        async def create_tables() -> None:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                await migrate(conn, 8)

        asyncio.run(create_tables())
        problems = run_lines(lines, {"RAG_STORE_URL": url})
    assert not problems, "\n".join(problems)


# --- Kafka tools -----------------------------------------------------------------------------

CONSUMER_GROUPS_OPTIONS = {"--bootstrap-server", "--describe", "--group", "--members", "--state", "--list", "--offsets"}


def test_the_kafka_commands_name_the_platforms_consumer_groups() -> None:
    groups = {t.consumer_group for t in vars(topics).values() if isinstance(t, topics.Topic) and t.consumer_group}
    commands = shell_commands("kafka-consumer-groups.sh")
    assert commands
    named = set()
    for words in commands:
        assert {w for w in words if w.startswith("--")} <= CONSUMER_GROUPS_OPTIONS, words
        group = option(words, "--group")
        assert group in groups, f"{' '.join(words)}: {group} is none of {sorted(groups)}"
        named.add(group)
    assert {"orchestrator-chat", "orchestrator-tool-results", "tool-runner"} <= named


# --- links -----------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", OPERATOR_DOCS, ids=lambda p: p.name)
def test_every_link_resolves(doc: Path) -> None:
    for path, anchor in relative_links(doc):
        assert path.exists(), f"{doc.name}: {path} does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{doc.name}: no #{anchor} in {path.name}"


def test_the_readme_links_the_runbook() -> None:
    assert "(docs/runbook.md)" in (ROOT / "README.md").read_text()
