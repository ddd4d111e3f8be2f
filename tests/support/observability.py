"""Reading what operators read: the metrics catalogue (`docs/metrics.md`), the
metric names a PromQL expression uses, the Grafana dashboards and the alert rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.deploy import yaml_files

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "metrics.md"
OBSERVABILITY = ROOT / "deploy" / "observability"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
RULES = OBSERVABILITY / "prometheus" / "rules"

# The client library's own process and runtime collectors: not ours to catalogue.
RUNTIME_PREFIXES = ("python_", "process_")


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    type: str
    labels: frozenset[str]
    services: frozenset[str]


def catalogue() -> dict[str, CatalogueEntry]:
    """Rows of the catalogue's table: | `name` | type | `label`, ... | service, ... | purpose |"""
    entries: dict[str, CatalogueEntry] = {}
    row = re.compile(r"^\|\s*`(?P<name>[a-z_:]+)`\s*\|\s*(?P<type>\w+)\s*\|(?P<labels>[^|]*)\|(?P<services>[^|]*)\|")
    for line in CATALOGUE.read_text().splitlines():
        match = row.match(line)
        if match is None:
            continue
        labels = frozenset(re.findall(r"`([a-z_]+)`", match["labels"]))
        services = frozenset(s.strip() for s in match["services"].split(",") if s.strip())
        entries[match["name"]] = CatalogueEntry(match["name"], match["type"], labels, services)
    return entries


@dataclass(frozen=True)
class ExportedFamily:
    name: str  # as PromQL names it: counters with `_total`
    type: str
    labels: frozenset[str]  # from the samples present (empty when none were recorded)
    sampled: bool


def exported_families(text: str) -> dict[str, ExportedFamily]:
    families: dict[str, ExportedFamily] = {}
    for family in text_string_to_metric_families(text):
        # `x_created` (a counter's or histogram's start time) is parsed as a family of its own.
        if family.name.startswith(RUNTIME_PREFIXES) or family.name.endswith("_created"):
            continue
        name = f"{family.name}_total" if family.type == "counter" else family.name
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        labels = frozenset(k for s in samples for k in s.labels if k not in ("le", "quantile"))
        families[name] = ExportedFamily(name, family.type, labels, bool(samples))
    return families


def sample_names(text: str) -> set[str]:
    """Every series name with at least one sample (`x_bucket`, `x_count`, `y_total`...)."""
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, groupings, functions and durations left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables ($__rate_interval)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs: list[str] = []
    for panel in dashboard.get("panels", []):
        exprs += [t["expr"] for t in panel.get("targets", []) if "expr" in t]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict) and "query" in query:
            query = query["query"]
        if isinstance(query, str) and variable.get("type") == "query":
            exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query))
    return exprs


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES.glob("*.yml")):
        groups += yaml_files.load(path)["groups"]
    return groups


def rule_exprs() -> list[str]:
    return [rule["expr"] for group in rule_groups() for rule in group["rules"]]


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # =, !=, =~, !~
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.label, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found


def selectors(expr: str) -> list[tuple[str, tuple[Matcher, ...]]]:
    """The series selectors of a PromQL expression: each metric name with its label matchers."""
    found = []
    for name in sorted(metric_names(expr)):
        for match in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:(])\s*(\{{[^}}]*\}})?", expr):
            body = (match.group(1) or "{}")[1:-1]
            matchers = tuple(
                Matcher(m["label"], m["op"], m["value"])
                for m in re.finditer(r'(?P<label>\w+)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"', body)
            )
            found.append((name, matchers))
    return found


def series_of(text: str) -> list[tuple[str, dict[str, str]]]:
    """Every sample of an exposition as (series name, labels)."""
    return [(s.name, dict(s.labels)) for f in text_string_to_metric_families(text) for s in f.samples]


def parse_series(selector: str) -> tuple[str, dict[str, str]]:
    """A promtool input series (`name{label="value", ...}`) as (name, labels)."""
    name, _, rest = selector.partition("{")
    return name.strip(), {m[1]: m[2] for m in re.finditer(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', rest)}
