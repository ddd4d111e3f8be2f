"""`GET /api/documents` from the shared PostgreSQL store (`document_store.py`): a gateway of
its own given `RAG_STORE_URL` lists from it, even before the indexer ever created it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A database of its own, where no process has made the store's tables yet."""
    name = f"gw{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


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
