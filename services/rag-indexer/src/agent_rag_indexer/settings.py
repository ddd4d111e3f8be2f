"""The RAG indexer's own settings; the index's (store, embeddings) are agent_common.rag.settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from agent_common.rag.roots import SourceRootsSettings
from agent_common.rag.settings import RagSettings
from agent_common.settings import (
    BusSettings,
    MetricsSettings,
    ObservabilitySettings,
    ProfileSettings,
    TracingSettings,
    settings_config,
)
from agent_rag_indexer.chunking import ChunkingConfig, Strategy


class IndexerSettings(BaseSettings):
    """The process that turns documents into the vector index."""

    model_config = settings_config("RAG_INDEXER_")

    host: str = "127.0.0.1"
    """Interface for the probes and metrics (`0.0.0.0` in a container). Commands come over the bus only."""
    port: int = 8003
    """Port for the probes and metrics."""
    chunk_strategy: Strategy = "heading"
    """How documents are cut into passages: `heading` (one section per chunk), `paragraph`
    (paragraphs packed up to the size) or `fixed` (windows of the size). See docs/rag.md."""
    chunk_size: int = Field(default=1200, ge=100, le=20_000)
    """Largest chunk, in characters."""
    chunk_overlap: int = Field(default=200, ge=0, le=5_000)
    """Characters repeated between consecutive chunks (`fixed`; `paragraph` repeats a paragraph up to it)."""
    embeddings_threads: int | None = Field(default=None, ge=1, le=64)
    """CPU threads of the offline embedder in the indexer's own process; unset, `RAG_EMBEDDINGS_THREADS`.
    Set it to the cores a node gives the indexer alone: two threads indexed 5.7-8.3 chunks/s against 4.3-4.4 for
    one, but 3.0 while other work held the second core (docs/benchmarks.md). The orchestrator keeps one for its
    questions; the embedded mode runs one engine for both in one process and ignores this setting."""

    def chunking(self) -> ChunkingConfig:
        return ChunkingConfig(strategy=self.chunk_strategy, size=self.chunk_size, overlap=self.chunk_overlap)


class IndexerConfig:
    """Every setting the indexer process reads, grouped by concern."""

    def __init__(
        self,
        service: IndexerSettings | None = None,
        rag: RagSettings | None = None,
        bus: BusSettings | None = None,
        log: ObservabilitySettings | None = None,
        metrics: MetricsSettings | None = None,
        roots: SourceRootsSettings | None = None,
    ) -> None:
        self.service = service or IndexerSettings()
        self.roots = roots or SourceRootsSettings()
        self.rag = rag or RagSettings()
        if self.service.embeddings_threads is not None:
            # The engine's threads are process-wide and this process only indexes.
            self.rag = self.rag.model_copy(update={"embeddings_threads": self.service.embeddings_threads})
        self.bus = bus or BusSettings()
        self.log = log or ObservabilitySettings()
        self.metrics = metrics or MetricsSettings()


SETTINGS_CLASSES = (
    # Where RAG_STORE_URL (a secret) is read from, and how strictly.
    ProfileSettings,
    IndexerSettings,
    SourceRootsSettings,
    RagSettings,
    BusSettings,
    ObservabilitySettings,
    MetricsSettings,
    TracingSettings,
)
