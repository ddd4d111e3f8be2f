"""`agent handoff`: an on-call handoff note, with what the platform can say filled in from Prometheus.

The note has the sections of docs/handoff-template.md: symptom, impact,
hypothesis, action, remaining risk, left for the engineer to write, then what
Prometheus knows over the window (`--since`, default 1h): the alerts firing or
pending, the errors by class (runs and HTTP answers), the breakers, the Kafka
consumer lag, the targets down and the deploys (versions first seen in the
window, from `agent_build_info`). Markdown on standard output; a query that
fails is said in its section instead of stopping the note.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from agent_cli.prometheus_api import PrometheusApi, PrometheusUnavailable, Sample, prometheus_api

__all__ = ["HAND_WRITTEN_SECTIONS", "QUERIES", "add_parser", "handoff_note"]

# The sections people write, in docs/handoff-template.md's order (tests hold the two together).
HAND_WRITTEN_SECTIONS = {
    "Symptom": "What users and dashboards show, since when (UTC).",
    "Impact": "Who is affected and how many: tenants, share of requests, requests lost or only slow.",
    "Hypothesis": "What you think is wrong, and what you saw that says so (request ids, queries, log lines).",
    "Action": "What you did, at what time, and what it changed.",
    "Remaining risk": "What can still go wrong, what to watch, and when to escalate to whom.",
}


def _counted(selector: str) -> str:
    """How much each counter series rose in the window, as counted: its last sample less its first.

    `increase()` alone extrapolates the rise to the window's edges, so two runs seen in a short
    window can read four. Where a process restarted in the window (a reset), the rise cannot be read
    from two samples, and `increase()`'s estimate stands in for that series.
    """
    window = f"{selector}[{{since}}]"
    exact = f"(max_over_time({window}) - min_over_time({window}))"
    return f"({exact} unless resets({window}) > 0 or increase({window}))"


_RUN_ERRORS = 'platform_errors_total{{origin="run"}}'

# What the platform fills in. `{since}` is the window; every name here is in docs/metrics.md.
QUERIES = {
    "errors": f"sum by (origin, error_class) {_counted('platform_errors_total')} > 0",
    "codes": f"topk(10, sum by (error_class, code) {_counted(_RUN_ERRORS)} > 0)",
    "runs": f"sum by (outcome) {_counted('orchestrator_runs_total')}",
    "breakers": "max by (breaker) (circuit_breaker_state)",
    "tool_hosts": "sum(tool_host_breakers_open)",
    "lag": "sum by (group, topic) (kafka_consumer_lag_messages)",
    "down": "up == 0",
    "deploys": "min by (service, version) (min_over_time(timestamp(agent_build_info)[{since}:]))",
    "pods": "count by (service, version) (agent_build_info)",
}

_WINDOW = re.compile(r"^[1-9][0-9]*[mhd]$")
_BREAKER_STATES = {0: "closed", 1: "half-open", 2: "OPEN"}


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"_{empty}_\n"
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _count(value: float) -> str:
    return f"{round(value):d}"


class _Note:
    def __init__(self, api: PrometheusApi, since: str) -> None:
        self.api, self.since = api, since

    async def query(self, key: str) -> list[Sample]:
        return await self.api.query(QUERIES[key].format(since=self.since))

    async def alerts(self) -> str:
        alerts = sorted(await self.api.alerts(), key=lambda a: (a.state != "firing", a.severity != "critical", a.name))
        rows = [
            [a.name, a.severity, a.state, a.active_at[:19].replace("T", " "), a.summary.replace("|", "/")]
            for a in alerts
        ]
        return _table(["alert", "severity", "state", "active since (UTC)", "summary"], rows, "No alert is firing.")

    async def errors(self) -> str:
        rows = [
            [s.labels.get("origin", ""), s.labels.get("error_class", ""), _count(s.value)]
            for s in sorted(await self.query("errors"), key=lambda s: -s.value)
        ]
        runs = {s.labels.get("outcome", ""): s.value for s in await self.query("runs")}
        finished = sum(runs.values())
        errored = _count(runs.get("error", 0))
        text = f"Runs finished in the window: {_count(finished)}, of which ended in an error: {errored}.\n\n"
        text += _table(["origin", "class", "errors"], rows, "No error in the window.")
        codes = [
            [s.labels.get("error_class", ""), s.labels.get("code", ""), _count(s.value)]
            for s in sorted(await self.query("codes"), key=lambda s: -s.value)
        ]
        if codes:
            text += "\nRuns' errors by code:\n\n" + _table(["class", "code", "runs"], codes, "")
        return text

    async def breakers(self) -> str:
        rows = [
            [s.labels.get("breaker", ""), _BREAKER_STATES.get(int(s.value), str(s.value))]
            for s in sorted(await self.query("breakers"), key=lambda s: s.labels.get("breaker", ""))
        ]
        text = _table(["breaker", "state"], rows, "No breaker reported.")
        hosts = await self.query("tool_hosts")
        open_hosts = int(hosts[0].value) if hosts else 0
        return text + f"\nTool upstream hosts refused at once (breaker open), all tool runners: {open_hosts}.\n"

    async def lag(self) -> str:
        rows = [
            [s.labels.get("group", ""), s.labels.get("topic", ""), _count(s.value)]
            for s in sorted(await self.query("lag"), key=lambda s: -s.value)
        ]
        return _table(
            ["group", "topic", "messages behind"], rows, "No consumer lag reported (the embedded default has no Kafka)."
        )

    async def down(self) -> str:
        rows = [[s.labels.get("service", ""), s.labels.get("instance", "")] for s in await self.query("down")]
        return _table(["service", "instance"], rows, "Every scraped target is up.")

    async def deploys(self) -> str:
        pods = {(s.labels.get("service", ""), s.labels.get("version", "")): s.value for s in await self.query("pods")}
        window_start = datetime.now(UTC).timestamp() - _seconds(self.since)
        rows = []
        for s in sorted(await self.query("deploys"), key=lambda s: -s.value):
            key = (s.labels.get("service", ""), s.labels.get("version", ""))
            # Seen from the window's first sample on: it was already running before.
            first = "before the window" if s.value <= window_start + 60 else _utc(s.value)
            rows.append([*key, first, _count(pods.get(key, 0))])
        return _table(["service", "version", "first seen", "processes now"], rows, "No build information scraped.")


def _seconds(window: str) -> float:
    return int(window[:-1]) * {"m": 60, "h": 3600, "d": 86400}[window[-1]]


async def _section(title: str, fill: Callable[[], Awaitable[str]]) -> str:
    try:
        body = await fill()
    except PrometheusUnavailable as problem:
        body = f"_Not filled: {problem}_\n"
    return f"### {title}\n\n{body}"


async def handoff_note(api: PrometheusApi, since: str, prometheus_url: str) -> str:
    note = _Note(api, since)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# On-call handoff, {now}\n", "Handed over by: _name_, to: _name_\n"]
    parts += [f"## {title}\n\n_{hint}_\n" for title, hint in HAND_WRITTEN_SECTIONS.items()]
    parts.append(f"## What the platform reports\n\nFrom {prometheus_url}, over the last {since} (`agent handoff`).\n")
    parts += [
        await _section("Alerts", note.alerts),
        await _section(f"Errors by class (last {since})", note.errors),
        await _section("Circuit breakers", note.breakers),
        await _section("Kafka consumer lag", note.lag),
        await _section("Targets down", note.down),
        await _section(f"Deploys (versions seen in the last {since})", note.deploys),
    ]
    return "\n".join(parts)


async def _handoff(args: argparse.Namespace) -> int:
    async with prometheus_api(args.prometheus) as api:
        try:
            await api.query("vector(1)")
        except PrometheusUnavailable as problem:
            print(f"agent handoff: {problem}; set --prometheus to the platform's Prometheus.", file=sys.stderr)
            return 1
        print(await handoff_note(api, args.since, args.prometheus))
    return 0


def _window(text: str) -> str:
    if not _WINDOW.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a window such as 30m, 1h or 2d")
    return text


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    handoff = commands.add_parser(
        "handoff",
        help="Print an on-call handoff note (Markdown) with alerts, errors, breakers, lag and deploys filled in.",
    )
    handoff.add_argument("--prometheus", required=True, help="Prometheus's base URL (http://prometheus:9090).")
    handoff.add_argument("--since", type=_window, default="1h", help="The window to report on (default: 1h).")
    handoff.set_defaults(handler=lambda a: asyncio.run(_handoff(a)))
