"""`agent handoff` fills the note from a real Prometheus scraping a running platform: the alert that
fires, the errors by class, the breakers, the lag (none: the embedded default has no Kafka) and
the version deployed; the sections people write are those of docs/handoff-template.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from agent_cli.handoff import HAND_WRITTEN_SECTIONS
from agent_common.build_info import installed_version
from tests.runbook.conftest import Observed
from tests.support.observability import ROOT
from tests.support.prometheus import Samples, running_prometheus
from tests.support.web import free_tcp_port

TEMPLATE = ROOT / "docs" / "handoff-template.md"


def handoff(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "agent_cli.main", "handoff", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def section(note: str, title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}.*?$(.*?)(?=^#|\Z)", note, re.M | re.S)
    assert match, f"no section {title!r} in:\n{note}"
    return match[1]


def test_the_note_says_what_the_platform_knows(observed: Observed) -> None:
    observed.prometheus.wait_for('ALERTS{alertname="ModelMisconfigured", alertstate="firing"}', bool)
    done = handoff("--prometheus", observed.prometheus.url, "--since", "10m")
    assert done.returncode == 0, done.stderr
    note = done.stdout
    alerts = section(note, "Alerts")
    assert re.search(r"\| ModelMisconfigured \| (warning|critical) \| firing \|", alerts), alerts
    errors = section(note, "Errors by class")
    # What was counted, not `increase()`'s extrapolation to the window's edges (which read 4 runs here).
    assert re.search(r"\| run \| model \| 1 \|", errors), errors
    assert re.search(r"\| http \| model \| 1 \|", errors), errors
    assert re.search(r"\| model \| MODEL_MISCONFIGURED \| 1 \|", errors), errors
    assert "Runs finished in the window: 2, of which ended in an error: 1." in errors, errors
    assert re.search(r"\| model:primary \| (closed|OPEN|half-open) \|", section(note, "Circuit breakers"))
    # Lag as Prometheus last scraped it: none, or a table of groups. The gauge is the test process's,
    # so the groups of earlier tests' in-process buses are in it too; their numbers are not this test's.
    lag = section(note, "Kafka consumer lag")
    assert "No consumer lag reported" in lag or "| group | topic | messages behind |" in lag, lag
    assert "Every scraped target is up." in section(note, "Targets down")
    deploys = section(note, "Deploys")
    version = installed_version("gateway")
    assert re.search(rf"\| embedded \| {re.escape(version)} \| \d{{4}}-\d\d-\d\d [\d:]+ UTC \| 1 \|", deploys), deploys


def test_the_sections_people_write_are_the_templates(observed: Observed) -> None:
    template = TEMPLATE.read_text()
    headings = re.findall(r"^## (.+)$", template, re.M)
    assert headings[: len(HAND_WRITTEN_SECTIONS)] == list(HAND_WRITTEN_SECTIONS)
    note = handoff("--prometheus", observed.prometheus.url).stdout
    assert re.findall(r"^## (.+)$", note, re.M)[: len(HAND_WRITTEN_SECTIONS)] == list(HAND_WRITTEN_SECTIONS)
    assert "agent handoff" in template


def test_an_unreachable_prometheus_is_said_plainly() -> None:
    done = handoff("--prometheus", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert "agent handoff: http://127.0.0.1:9 did not answer" in done.stderr
    assert "--prometheus" in done.stderr


def test_a_window_prometheus_cannot_read_is_refused_before_asking() -> None:
    done = handoff("--prometheus", "http://127.0.0.1:9", "--since", "an hour")
    assert done.returncode == 2
    assert "not a window such as 30m, 1h or 2d" in done.stderr


def test_lag_open_breakers_and_targets_down_are_in_the_note(tmp_path: Path) -> None:
    """What the embedded default cannot show: a Kafka backlog, an open breaker, a target that is down."""
    registry = CollectorRegistry()
    Gauge("kafka_consumer_lag_messages", "", ["group", "topic"], registry=registry).labels(
        "orchestrator-chat", "chat.requests"
    ).set(250)
    breakers = Gauge("circuit_breaker_state", "", ["breaker"], registry=registry)
    breakers.labels("model:primary").set(2)
    breakers.labels("model:secondary").set(0)
    Gauge("tool_host_breakers_open", "", registry=registry).set(3)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    targets = {"orchestrator": f"127.0.0.1:{server.server_port}", "tool-runner": f"127.0.0.1:{free_tcp_port()}"}
    try:
        with running_prometheus(tmp_path, targets) as prometheus:
            prometheus.wait_for("up", lambda s: len(s) == 2)
            prometheus.wait_for("kafka_consumer_lag_messages", bool)
            done = handoff("--prometheus", prometheus.url, "--since", "5m")
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert done.returncode == 0, done.stderr
    assert "| orchestrator-chat | chat.requests | 250 |" in section(done.stdout, "Kafka consumer lag")
    breakers_text = section(done.stdout, "Circuit breakers")
    assert "| model:primary | OPEN |" in breakers_text and "| model:secondary | closed |" in breakers_text
    assert "all tool runners: 3." in breakers_text
    assert re.search(r"\| tool-runner \| 127\.0\.0\.1:\d+ \|", section(done.stdout, "Targets down"))


def test_counts_are_what_was_counted_and_a_restart_is_still_counted(tmp_path: Path) -> None:
    """A counter seen rising from 10 to 14 in a few seconds reads 4 (`increase()` alone would stretch it
    to the window's edges: 5 or 6); one whose process restarted in the window (9, then 1) reads its rise
    across the restart, about 1 (its last sample less its first would read 8)."""
    registry = CollectorRegistry()
    runs = Gauge("orchestrator_runs_total", "", ["outcome", "error_class"], registry=registry)
    errored, done = runs.labels("error", "model"), runs.labels("done", "")
    errored.set(10)
    done.set(9)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        with running_prometheus(tmp_path, {"orchestrator": f"127.0.0.1:{server.server_port}"}) as prometheus:
            prometheus.wait_for("count_over_time(orchestrator_runs_total[1m])", lambda s: len(s) == 2 and _seen(s, 2))
            errored.set(14)
            done.set(1)
            prometheus.wait_for("orchestrator_runs_total", lambda s: sorted(float(x["value"][1]) for x in s) == [1, 14])
            note = handoff("--prometheus", prometheus.url, "--since", "5m")
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert note.returncode == 0, note.stderr
    runs_line = re.search(r"Runs finished in the window: (\d+), of which ended in an error: (\d+)\.", note.stdout)
    assert runs_line and int(runs_line[2]) == 4 and int(runs_line[1]) in (5, 6), note.stdout


def _seen(samples: Samples, times: int) -> bool:
    return all(float(sample["value"][1]) >= times for sample in samples)
