"""What a client sees of a chat request whose publish failed past `BUS_RIDE_THROUGH_S`:
a JSON client a 503 `INFRA_UNAVAILABLE` (`bus_unavailable`) with `Retry-After`, a
stream client the same error as its one SSE `error` event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent_common.bus import MemoryBus
from agent_common.messages import BusMessage
from agent_common.resilience import Outage, OutageTooLong
from agent_common.sessions import SessionBounds
from agent_common.transports.memory import MemoryTransports
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


class BrokerAway(MemoryBus):
    async def publish(self, message: BusMessage) -> None:
        raise OutageTooLong(Outage.BUS, 5.0)


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("AUTH_KEYS_FILE", str(tmp_path / "api-keys.json"))
    transports = MemoryTransports(BrokerAway(), sessions=SessionBounds(), keys_file=tmp_path / "api-keys.json")
    app = create_app(
        GatewayConfig(), transports=transports, run_alongside=transports, allow_anonymous_without_keys=True
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_json_client_gets_503_bus_unavailable_with_retry_after(gateway: TestClient) -> None:
    answer = gateway.post("/api/chat", json={"message": "hello?"}, headers={"accept-language": "ko"})
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    body = answer.json()
    assert body["error"]["code"] == "INFRA_UNAVAILABLE" and body["error"]["details"]["reason"] == "bus_unavailable"
    assert body["fallback"]


def test_a_stream_client_gets_one_error_event_bus_unavailable(gateway: TestClient) -> None:
    with gateway.stream("POST", "/api/chat/stream", json={"message": "hello?"}) as answer:
        assert answer.status_code == 200
        lines = list(answer.iter_lines())
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    data = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert events == ["error"], lines
    assert data[0]["error"]["details"]["reason"] == "bus_unavailable"
