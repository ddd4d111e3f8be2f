"""The RAG indexer as a component: takes `ReindexRequested` off the bus, runs it, and
publishes `ReindexStatus` (which the gateway follows for its reindex API).

Used as-is by the indexer's own process and by the embedded runner.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent_common.bus import Bus
from agent_common.logs import bind_ids
from agent_common.messages import ReindexRequested
from agent_common.probes import ReadinessCheck
from agent_common.rag.embeddings import Embedder
from agent_common.rag.roots import SourceRootsSettings
from agent_common.rag.store import VectorStore
from agent_common.topics import RAG_REINDEX
from agent_rag_indexer import metrics
from agent_rag_indexer.indexer import Indexer
from agent_rag_indexer.settings import IndexerSettings

log = logging.getLogger("agent.rag_indexer")

_REMEMBERED = 10_000


class RagIndexer:
    def __init__(
        self,
        *,
        bus: Bus,
        store: VectorStore,
        embedder: Embedder,
        settings: IndexerSettings,
        roots: SourceRootsSettings,
        batch_size: int = 32,
    ) -> None:
        self.bus = bus
        self.store = store
        self.embedder = embedder
        self.indexer = Indexer(
            store=store,
            embedder=embedder,
            chunking=settings.chunking(),
            allowed_roots=roots.resolved(),
            batch_size=batch_size,
        )
        # Recently handled command ids: a redelivered command is not run twice.
        self._handled: OrderedDict[str, None] = OrderedDict()

    def register(self) -> None:
        self.bus.subscribe(ReindexRequested, self.handle, group=RAG_REINDEX.consumer_group)

    async def handle(self, command: ReindexRequested) -> None:
        with bind_ids(request_id=command.request_id, session_id=command.session_id, user_id=command.user_id):
            if command.message_id in self._handled:
                log.info("duplicate reindex command ignored", extra={"message_id": command.message_id})
                return
            self._handled[command.message_id] = None
            while len(self._handled) > _REMEMBERED:
                self._handled.popitem(last=False)
            log.info(
                "reindex started", extra={"source": command.source.name, "mode": command.mode, "tenant": command.tenant}
            )
            final = await self.indexer.run(command, self.bus.publish)
            metrics.COMMANDS.labels(final.mode, final.state).inc()
            metrics.DURATION.labels(final.mode).observe(final.elapsed_s)
            counts = final.counts
            for outcome in ("changed", "unchanged", "deleted", "failed"):
                metrics.DOCUMENTS.labels(outcome).inc(getattr(counts, outcome))
            metrics.CHUNKS.inc(counts.chunks_written)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RagIndexer]:
        """The embedder and the vector store, closed on leaving: enter it before the bus starts, so the
        bus (and every command in flight) has stopped before they close."""
        try:
            yield self
        finally:
            await self.embedder.close()
            await self.store.close()

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {"bus": self.bus.ping, "store": self.store.ping}
