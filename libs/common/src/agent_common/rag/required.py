"""Whether a distributed process has the shared document store it needs, checked before it starts.

In the distributed mode the indexer writes the documents and every orchestrator reads
them, each in its own process: only a store server they all name can hold them. A
process left without one used to run anyway, the indexer into a local folder nobody
reads and the orchestrators without documents; now it refuses to start, naming the
setting, and a deployment without documents says so (`RAG_ENABLED=false`).
"""

from __future__ import annotations

from typing import Literal

from agent_common.rag.settings import POSTGRES_SCHEMES, RagSettings
from agent_common.settings import BusSettings
from agent_common.transports import ConfigurationError

Role = Literal["reader", "writer"]


def store_url(rag: RagSettings) -> str | None:
    """`RAG_STORE_URL`, once it is known to name PostgreSQL; `ConfigurationError` (which never
    repeats the URL: it may hold a password) for any other URL."""
    if rag.store_url is None:
        return None
    url = rag.store_url.get_secret_value()
    if not url.startswith(POSTGRES_SCHEMES):
        raise ConfigurationError(
            "RAG_STORE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/db); "
            "the Qdrant server mode was removed (docs/rag.md#the-vector-store)."
        )
    return url


def check_shared_store(rag: RagSettings, bus: BusSettings, role: Role) -> None:
    """Raise `ConfigurationError` when a separate process would have no shared store.

    A writer (the indexer) may keep a local store only when `RAG_STORE_PATH` is set on purpose
    (a lone indexer, a test of the reindex flow); a reader (an orchestrator) never can, since
    the folder is the indexer's."""
    store_url(rag)
    if not rag.enabled:
        if role == "writer":
            raise ConfigurationError("RAG_ENABLED=false: the rag indexer has no documents to index; do not run it.")
        return
    if bus.backend != "kafka" or rag.store_url is not None:
        return
    if role == "writer" and "store_path" in rag.model_fields_set:
        return
    raise ConfigurationError(
        "RAG_STORE_URL is not set: with BUS_BACKEND=kafka the indexer and the orchestrators share the "
        "document store it names; set it on both, or set RAG_ENABLED=false to run without documents."
    )
