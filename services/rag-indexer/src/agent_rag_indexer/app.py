"""The indexer's own process (distributed mode): probes and metrics over HTTP, commands
over the bus only, the vector store in server mode (or on local disk for a lone process).

Its port takes no commands: the reindex API is the gateway's (`/api/reindex`), behind
the same credential, scope and rate limits as every other call (docs/security.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette

from agent_common.metrics_server import serving_metrics
from agent_common.probes import all_pass, probe_routes
from agent_common.rag.embeddings import build_embedder
from agent_common.rag.required import check_shared_store
from agent_common.rag.store import open_store
from agent_common.transports import open_transports
from agent_rag_indexer.service import RagIndexer
from agent_rag_indexer.settings import IndexerConfig


def create_app(config: IndexerConfig | None = None) -> Starlette:
    config = config or IndexerConfig()
    check_shared_store(config.rag, config.bus, "writer")
    # No Redis settings: the indexer shares no state, only the bus.
    transports = open_transports(config.bus, None, client_id="rag-indexer")
    embedder = build_embedder(config.rag)
    store = open_store(config.rag, embedder.dimensions)
    indexer = RagIndexer(
        bus=transports.bus,
        store=store,
        embedder=embedder,
        settings=config.service,
        roots=config.roots,
        batch_size=config.rag.embeddings_batch_size,
    )
    indexer.register()
    # No command taken before its store answers (docs/reliability.md#readiness).
    transports.bus.consume_when(all_pass(indexer.readiness_checks()))
    checks = {**indexer.readiness_checks(), "consuming": transports.bus.consuming}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # First in, last out: scraped from start-up to the end of the drain.
            app.state.metrics_port = await stack.enter_async_context(
                serving_metrics(config.service.host, config.metrics.port_for(config.service.port))
            )
            await stack.enter_async_context(indexer.running())  # closed after the bus has stopped
            await stack.enter_async_context(transports)
            yield

    return Starlette(routes=probe_routes("rag-indexer", lambda: checks), lifespan=lifespan)
