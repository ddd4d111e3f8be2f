"""The RAG indexer's Prometheus metrics. Labels stay bounded: no paths, no source names."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMMANDS = Counter("rag_reindex_commands_total", "Reindex commands finished, by mode and state.", ["mode", "state"])
DOCUMENTS = Counter(
    "rag_documents_total",
    "Documents handled by reindex commands, by outcome (changed, unchanged, deleted, failed).",
    ["outcome"],
)
CHUNKS = Counter("rag_chunks_written_total", "Chunks embedded and written to the vector store.")
DURATION = Histogram(
    "rag_reindex_duration_seconds",
    "Time a reindex command took, by mode.",
    ["mode"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
