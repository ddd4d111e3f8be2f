"""`GET /api/documents` (`routes/documents.py`): the index's documents, for `reindex`-scoped callers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent_common.rag.records import IndexedDocument
from agent_common.rag.store import VectorStore
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig

PARKING = IndexedDocument(
    source="handbook", doc_id="parking", title="Parking", version="v2", updated_at="2026-11-30", chunks=3
)


PAYROLL = IndexedDocument(
    source="globex-hr", doc_id="payroll", title="Payroll", version="v1", updated_at="2026-11-02", chunks=5
)


class ListedIndex:
    """Two tenants' documents; the store filters by the tenant it is asked for."""

    async def documents(self, tenant: str | None = None) -> list[IndexedDocument]:
        by_tenant = {"default": [PARKING], "globex": [PAYROLL]}
        return by_tenant.get(tenant or "", []) if tenant is not None else [PARKING, PAYROLL]


@pytest.fixture
def gateway_beside_an_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("AUTH_KEYS_FILE", str(tmp_path / "api-keys.json"))
    index: VectorStore = ListedIndex()  # type: ignore[assignment]
    app = create_app(GatewayConfig(), allow_anonymous_without_keys=True, document_index=index)
    with TestClient(app) as client:
        yield client


def test_a_gateway_beside_the_index_lists_its_callers_tenants_documents(
    gateway_beside_an_index: TestClient,
) -> None:
    listed = gateway_beside_an_index.get("/api/documents")  # the embedded default's caller: tenant `default`
    assert listed.status_code == 200
    assert listed.json() == {"available": True, "documents": [PARKING.model_dump()]}


def test_a_gateway_of_its_own_says_it_cannot_see_the_index(anonymous_gateway: TestClient) -> None:
    assert anonymous_gateway.get("/api/documents").json() == {"available": False, "documents": []}


def test_listing_needs_a_credential(anonymous_gateway: TestClient) -> None:
    refused = anonymous_gateway.get("/api/documents", headers={"Authorization": "Bearer not-a-key"})
    assert refused.status_code == 401
