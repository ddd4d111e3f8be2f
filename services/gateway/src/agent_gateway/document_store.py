"""The shared document store a gateway of its own lists `/api/documents` from.

In the distributed mode the indexer writes the PostgreSQL store (`RAG_STORE_URL`) that
every orchestrator reads; a gateway given the same URL reads it too, for the chat page's
documents panel, and calls nothing on it but `documents()`. It embeds nothing: the
vector size the store's schema is made (or checked) with comes from the RAG settings,
as the embedder the indexer builds from them would report it, and no model is loaded.

In both modes the listing names a file as citations do (`shown_doc_id`): the index keeps
its absolute path as its id, which is the indexer's business, not a caller's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent_common.rag.embeddings import OFFLINE_DIMENSIONS
from agent_common.rag.required import store_url
from agent_common.rag.roots import relative_name
from agent_common.rag.settings import RagSettings

if TYPE_CHECKING:
    from agent_common.rag.store import VectorStore

__all__ = ["embedding_dimensions", "shared_document_store", "shown_doc_id", "source_roots"]


def embedding_dimensions(rag: RagSettings) -> int:
    """The vector size of the embedder `RAG_EMBEDDINGS` names, without building it."""
    return OFFLINE_DIMENSIONS if rag.embeddings == "offline" else rag.embeddings_dimensions


def shared_document_store(rag: RagSettings) -> VectorStore | None:
    """The PostgreSQL store `RAG_STORE_URL` names, not yet connected (it connects on its first
    listing, so a store that is down never stops the gateway from starting); `None` without
    one, or with `RAG_ENABLED=false`. Never the local folder: that is the embedded indexer's.
    A URL that is not PostgreSQL's is a `ConfigurationError`, as in the other services."""
    if not rag.enabled or store_url(rag) is None:
        return None
    from agent_common.rag.store import open_store  # psycopg only for a gateway that lists

    return open_store(rag, embedding_dimensions(rag))


def source_roots(as_written: Sequence[Path]) -> list[Path]:
    """The allowed roots as written and with their symlinks resolved: the indexer names files
    under the resolved ones, and the gateway may see a root through a link."""
    return [*as_written, *(Path(os.path.realpath(root)) for root in as_written)]


def shown_doc_id(doc_id: str, roots: Sequence[Path]) -> str:
    """A document's id as a caller may see it: a file's (an absolute path) relative to the deepest
    allowed root it lies under, as the indexer names it for citations (`relative_name`; its
    file name alone when no root holds it any more); an inline document's id as it is, unless
    it reads as an absolute path too: then the same rule, so no such path is ever listed."""
    path = Path(doc_id)
    return relative_name(path, roots) if path.is_absolute() else doc_id
