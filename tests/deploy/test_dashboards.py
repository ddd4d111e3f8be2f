"""The Grafana dashboards and their provisioning in `deploy/observability/grafana/`:
each panel reads the provisioned Prometheus data source and has a query, and the
dashboards cover what operators were promised (whether every metric they read is
exported is checked after real traffic in tests/e2e/test_observability_exports.py)."""

from __future__ import annotations

from tests.deploy import yaml_files
from tests.support.observability import OBSERVABILITY, dashboard_exprs, dashboards, metric_names

PROVISIONING = OBSERVABILITY / "grafana" / "provisioning"


def test_every_panel_queries_the_provisioned_prometheus() -> None:
    (source,) = yaml_files.load(PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    boards = dashboards()
    assert {b["uid"] for b in boards.values()} == {
        "agent-service-overview",
        "agent-model-tools",
        "agent-security",
        "agent-kafka",
        "agent-cost",
    }
    for name, board in boards.items():
        assert board["panels"], name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], (name, panel["title"])
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), (name, panel["title"])


def test_the_dashboards_provider_loads_the_folder_the_dashboards_are_mounted_at() -> None:
    (provider,) = yaml_files.load(PROVISIONING / "dashboards" / "agent-platform.yml")["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_promised_views_are_there() -> None:
    exprs = {name: " ".join(dashboard_exprs(board)) for name, board in dashboards().items()}
    overview = exprs["service-overview.json"]
    assert "histogram_quantile(0.5" in overview and "histogram_quantile(0.95" in overview
    assert "by (error_class)" in overview
    assert {"llm_time_to_first_token_seconds_bucket", "llm_tokens_total", "tool_calls_total"} <= metric_names(
        exprs["model-tools.json"]
    )
    assert 'outcome="timeout"' in exprs["model-tools.json"]
    for event in ("auth_failed", "rate_limited", "tool_url_refused"):
        assert event in exprs["security.json"]
    assert metric_names(exprs["kafka.json"]) == {"kafka_consumer_lag_messages"}
    cost = exprs["cost.json"]
    assert {"usage_cost_total", "usage_tokens_total", "budget_used_ratio"} <= metric_names(cost)
    assert "sum by (model)" in cost and "sum by (tenant)" in cost and "topk(10, sum by (tenant)" in cost
    assert "user" not in " ".join(t for t in cost.split() if "by" in t or "{" in t)  # never per user


def test_metric_names_leave_out_functions_labels_groupings_and_durations() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route="/a"}[5m])))'
        " > 15 and sum(rate(http_requests_total[$__rate_interval] offset 1d)) / ignoring(x) up"
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "http_requests_total", "up"}
