"""A gateway app of its own in memory, for tests that call its routes through a `TestClient`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


@pytest.fixture
def anonymous_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """No key exists and anonymous callers are allowed (the embedded default's first look), with
    limits far above what a test sends: every request gets past admission to what is tested."""
    monkeypatch.setenv("AUTH_KEYS_FILE", str(tmp_path / "api-keys.json"))
    monkeypatch.setenv("RATE_LIMIT_USER_PER_MINUTE", "100000")
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "100000")
    app = create_app(GatewayConfig(), allow_anonymous_without_keys=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
