"""Each service serves `/metrics` on its metrics port, for as long as its app runs,
and never on its own port; a metrics port already in use stops the start-up."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from agent_common.metrics_server import MetricsPortInUseError, serving_metrics
from agent_common.settings import MetricsSettings
from tests.support.platform import scratch_state


def test_unset_the_metrics_port_is_the_service_port_plus_1000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert MetricsSettings().port_for(8000) == 9000
    assert MetricsSettings(port=9464).port_for(8000) == 9464


async def test_serving_metrics_answers_then_stops() -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        async with serving_metrics("127.0.0.1", 0) as port:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            assert response.status_code == 200
            assert "python_info" in response.text
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/metrics")


async def test_a_busy_metrics_port_is_refused_with_its_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MetricsPortInUseError, match=f"127.0.0.1:{port}"):
            async with serving_metrics("127.0.0.1", port):
                pass


def _apps(tmp_path: Path) -> dict[str, object]:
    from agent_gateway.app import create_app as gateway
    from agent_gateway.settings import AuthSettings, GatewayConfig
    from agent_orchestrator.app import create_app as orchestrator
    from agent_rag_indexer.app import create_app as rag_indexer
    from agent_rag_indexer.settings import IndexerConfig
    from agent_tool_runner.app import create_app as tool_runner

    return {
        "gateway": gateway(GatewayConfig(auth=AuthSettings(keys_file=tmp_path / "keys.json"))),
        "orchestrator": orchestrator(),
        "tool-runner": tool_runner(),
        "rag-indexer": rag_indexer(IndexerConfig()),
    }


@pytest.mark.parametrize("service", ["gateway", "orchestrator", "tool-runner", "rag-indexer"])
def test_each_service_serves_metrics_on_its_metrics_port_only(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_PORT", "0")
    monkeypatch.setenv("RAG_STORE_PATH", str(tmp_path / "store"))
    for name, value in scratch_state(tmp_path).items():  # never the checkout's `.data/` and `.agent/`
        monkeypatch.setenv(name, value)
    app = _apps(tmp_path)[service]
    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/metrics").status_code == 404
        assert client.get("/health").status_code == 200
        port = client.app.state.metrics_port  # type: ignore[attr-defined]
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
