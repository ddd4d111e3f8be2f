"""The vector store the indexer writes and the orchestrator reads: one contract
(`base.py`), one file per implementation (`local.py`, Qdrant's local mode for the
embedded default; `postgres.py`, PostgreSQL with pgvector shared by every process of
the distributed mode), chosen from the settings in one place (`choice.py`)."""

from agent_common.rag.store.base import StoreInUse, VectorStore, without_credentials
from agent_common.rag.store.choice import open_store

__all__ = ["StoreInUse", "VectorStore", "open_store", "without_credentials"]
