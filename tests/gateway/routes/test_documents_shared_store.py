"""`GET /api/documents` from the shared PostgreSQL store (`document_store.py`): a gateway of
its own given `RAG_STORE_URL` lists from it, even before the indexer ever created it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig
from tests.support.services import database_of_its_own


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A database of its own, where no process has made the store's tables yet."""
    with database_of_its_own(postgres_url, "gw") as url:
        yield url


def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> TestClient:
    monkeypatch.setenv("AUTH_KEYS_FILE", str(tmp_path / "api-keys.json"))
    monkeypatch.setenv("RAG_STORE_URL", store_url)
    return TestClient(create_app(GatewayConfig(), allow_anonymous_without_keys=True))


def test_a_store_no_indexer_has_created_yet_lists_no_documents(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gateway(tmp_path, monkeypatch, empty_database) as client:
        listed = client.get("/api/documents")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"available": True, "documents": []}


def test_the_gateway_starts_while_the_store_is_down_and_says_so_when_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gateway(tmp_path, monkeypatch, "postgresql://agent@127.0.0.1:9/documents") as client:
        assert client.get("/health").status_code == 200
        listed = client.get("/api/documents")
    assert listed.status_code == 503
    assert listed.json()["error"]["code"] == "RAG_STORE_UNAVAILABLE"
