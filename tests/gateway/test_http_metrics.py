"""Probes and scrapes are counted under their own route labels, not `unmatched`:
`unmatched` is for paths no route serves, so it stays a signal (and probes do not
dilute the 5xx share under a label nobody reads). A mounted app's routes are named from
their mount."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from agent_common.http_metrics import HttpMetricsMiddleware
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


def answered(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_probes_have_their_own_route_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_KEYS_FILE", str(tmp_path / "api-keys.json"))
    before = {r: answered(r, "200") for r in ("/health", "unmatched")}
    missing_before = answered("unmatched", "404")
    with TestClient(create_app(GatewayConfig())) as client:
        for path in ("/health", "/metrics", "/no-such-path"):
            client.get(path)
    assert answered("/health", "200") == before["/health"] + 1
    # /metrics is not served on the public port (its own port, tests/common/test_metrics_server.py)
    assert answered("unmatched", "200") == before["unmatched"]
    assert answered("unmatched", "404") == missing_before + 2


def test_a_mounted_apps_routes_are_named_from_their_mount() -> None:
    """The embedded process serves the offline model at `/offline`: its `/v1/chat/completions` is
    not the platform's own, and must not be counted as it. A root path the server was given (a
    proxy's prefix) changes no label."""
    inner = FastAPI()
    outer = FastAPI()

    @inner.post("/v1/completions-of-a-mount")
    async def inner_route() -> dict[str, str]:
        return {}

    @outer.post("/v1/completions-of-a-mount")
    async def outer_route() -> dict[str, str]:
        return {}

    outer.mount("/offline", inner)
    outer.add_middleware(HttpMetricsMiddleware, routes=lambda: outer.router.routes)

    def counted(route: str) -> float:
        labels = {"method": "POST", "route": route, "status": "200"}
        return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0

    before = counted("/v1/completions-of-a-mount"), counted("/offline/v1/completions-of-a-mount")
    with TestClient(outer) as client:
        client.post("/v1/completions-of-a-mount")
        client.post("/offline/v1/completions-of-a-mount")
        client.post("/offline/v1/completions-of-a-mount")
    with TestClient(outer, root_path="/behind-a-proxy") as client:
        client.post("/v1/completions-of-a-mount")
    assert counted("/v1/completions-of-a-mount") == before[0] + 2
    assert counted("/offline/v1/completions-of-a-mount") == before[1] + 2
