"""`GET /api/documents`: what the document index holds, for the chat page's documents panel.

Listed from the live index itself (source, id, title, version, updated-at, chunk count), the
caller's tenant's documents only,
for callers with the `reindex` scope, like the reindex commands that change it. The index
is the one the gateway shares its process with (the embedded default), or the shared
PostgreSQL store `RAG_STORE_URL` names (the distributed mode, `document_store.py`); a
gateway with neither answers `available: false`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from agent_common.rag.records import IndexedDocument
from agent_gateway.auth import Caller
from agent_gateway.routes.reindex import REFUSALS, reindex_caller

__all__ = ["DocumentList", "router"]

router = APIRouter(prefix="/api")


class DocumentList(BaseModel):
    available: bool = Field(
        description="False when this gateway cannot see the index: a process of its own without `RAG_STORE_URL`."
    )
    documents: list[IndexedDocument]


@router.get("/documents", response_model=DocumentList, responses=REFUSALS)
async def list_documents(request: Request, caller: Annotated[Caller, Depends(reindex_caller)]) -> DocumentList:
    """Every document of the live index that belongs to the caller's tenant, by source then id."""
    store = request.app.state.documents
    if store is None:
        return DocumentList(available=False, documents=[])
    return DocumentList(available=True, documents=await store.documents(tenant=caller.tenant))
