"""`GET /api/documents`: what the document index holds, for the chat page's documents panel.

Listed from the live index itself (source, id, title, version, updated-at, chunk count), the
caller's tenant's documents only,
for callers with the `reindex` scope, like the reindex commands that change it. The index
is the one the gateway shares its process with (the embedded default), or the shared
PostgreSQL store `RAG_STORE_URL` names (the distributed mode, `document_store.py`); a
gateway with neither answers `available: false`.

A file's id in the index is its absolute path on the indexer's disk (what a `remove`
command matches); the list shows it as citations do instead, relative to the allowed root
it lies under (`document_store.shown_doc_id`), so no server path reaches a caller.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from agent_common.rag.records import IndexedDocument
from agent_gateway.auth import Caller
from agent_gateway.document_store import shown_doc_id, source_roots
from agent_gateway.routes.reindex import REFUSALS, reindex_caller

__all__ = ["DocumentList", "router"]

router = APIRouter(prefix="/api")


class DocumentList(BaseModel):
    available: bool = Field(
        description="False when this gateway cannot see the index: a process of its own without `RAG_STORE_URL`."
    )
    documents: list[IndexedDocument] = Field(
        description="By source then id. A file's `doc_id` is its path relative to the allowed root it lies under "
        "(`RAG_INDEXER_ALLOWED_ROOTS`), as citations name it, never the server's path; an inline document's is "
        "its own id."
    )


@router.get("/documents", response_model=DocumentList, responses=REFUSALS)
async def list_documents(request: Request, caller: Annotated[Caller, Depends(reindex_caller)]) -> DocumentList:
    """Every document of the live index that belongs to the caller's tenant, by source then id."""
    store = request.app.state.documents
    if store is None:
        return DocumentList(available=False, documents=[])
    roots = source_roots(request.app.state.source_roots)
    listed = [
        document.model_copy(update={"doc_id": shown_doc_id(document.doc_id, roots)})
        for document in await store.documents(tenant=caller.tenant)
    ]
    return DocumentList(available=True, documents=listed)
