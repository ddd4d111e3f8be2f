"""The indexer's own process (distributed mode): probes and metrics over HTTP, commands
over the bus only, the vector store in server mode (or on local disk for a lone process).

Its port takes no commands: the reindex API is the gateway's (`/api/reindex`), behind
the same credential, scope and rate limits as every other call (docs/security.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from agent_common import infra
from agent_common.probes import probe_routes
from agent_common.rag.embeddings import build_embedder
from agent_common.rag.store import open_store
from agent_rag_indexer.service import RagIndexer
from agent_rag_indexer.settings import IndexerConfig


def create_app(config: IndexerConfig | None = None) -> Starlette:
    config = config or IndexerConfig()
    bus = infra.build_bus(config.bus, client_id="rag-indexer")
    embedder = build_embedder(config.rag)
    store = open_store(config.rag, embedder.dimensions)
    indexer = RagIndexer(
        bus=bus,
        store=store,
        embedder=embedder,
        settings=config.service,
        roots=config.roots,
        batch_size=config.rag.embeddings_batch_size,
    )
    indexer.register()
    checks = indexer.readiness_checks()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await bus.start()
        try:
            yield
        finally:
            await bus.stop()
            await embedder.close()
            await store.close()

    return Starlette(routes=probe_routes("rag-indexer", lambda: checks), lifespan=lifespan)
