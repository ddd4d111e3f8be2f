"""A streamed chat turn is published before its response's head is written, so the run is on
its way while the head and the first frames go out (`run_client.py`); and whatever the publish
meets, the stream still ends with its one ending."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_common.bus import MemoryBus
from agent_common.messages import BusMessage, ChatRequested
from agent_common.resilience import Outage, OutageTooLong
from agent_common.sessions import SessionBounds
from agent_common.transports.memory import MemoryTransports
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


class RecordedBus(MemoryBus):
    """Notes each chat request's publish in `order`; the broker is away, so each run ends at once."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    async def publish(self, message: BusMessage) -> None:
        if isinstance(message, ChatRequested):
            self.order.append("published")
        raise OutageTooLong(Outage.BUS, 5.0)


def _noting_heads(app: ASGIApp, order: list[str]) -> ASGIApp:
    async def noted(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                order.append("head")
            await send(message)

        await app(scope, receive, sending)

    return noted


@pytest.fixture
def order() -> list[str]:
    return []


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: list[str]) -> Iterator[TestClient]:
    monkeypatch.setenv("AUTH_KEYS_FILE", str(tmp_path / "api-keys.json"))
    transports = MemoryTransports(RecordedBus(order), sessions=SessionBounds(), keys_file=tmp_path / "api-keys.json")
    app = create_app(
        GatewayConfig(), transports=transports, run_alongside=transports, allow_anonymous_without_keys=True
    )
    with TestClient(_noting_heads(app, order), raise_server_exceptions=False) as client:
        order.clear()  # the start-up's own messages, if any
        yield client


def test_the_platforms_stream_is_published_before_its_head(gateway: TestClient, order: list[str]) -> None:
    with gateway.stream("POST", "/api/chat/stream", json={"message": "안녕하세요?"}) as answer:
        assert answer.status_code == 200
        lines = list(answer.iter_lines())
    assert order == ["published", "head"]
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events == ["error"], lines


def test_an_openai_stream_is_published_before_its_head(gateway: TestClient, order: list[str]) -> None:
    body = {"model": "agent", "stream": True, "messages": [{"role": "user", "content": "Hello?"}]}
    with gateway.stream("POST", "/v1/chat/completions", json=body) as answer:
        assert answer.status_code == 200
        lines = list(answer.iter_lines())
    assert order == ["published", "head"]
    data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    # The role chunk, then the one ending: the error object OpenAI's clients read.
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(data[-1])["error"]["code"] == "INFRA_UNAVAILABLE", data
