"""Index the corpus once per chunking strategy, in a throwaway embedded store, and rank
every labelled question against it with the same embedder and store code the platform uses."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent_common.messages import DEFAULT_TENANT, ReindexCounts, ReindexRequested, ReindexSource, ReindexStatus
from agent_common.rag.embeddings import Embedder
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore, open_store
from agent_rag_indexer.chunking import ChunkingConfig, Strategy
from agent_rag_indexer.evaluation.labels import Question
from agent_rag_indexer.evaluation.metrics import KS, Scores, includes_key_text, rank_of_gold, summarise
from agent_rag_indexer.evaluation.report import StrategyResult, ThresholdRow
from agent_rag_indexer.indexer import Indexer


@dataclass(frozen=True)
class Evaluation:
    results: list[StrategyResult]
    thresholds: list[ThresholdRow]
    # Best passage score of each FAQ question and each off-topic question (the first strategy's index).
    positive_scores: list[float]
    negative_scores: list[float]
    # The Korean wordings of FAQ questions, on the first strategy's index (None without any).
    korean: Scores | None = None
    korean_scores: list[float] = field(default_factory=list)


async def _ignore(_: ReindexStatus) -> None:
    return None


async def index_pages(
    store: VectorStore,
    embedder: Embedder,
    pages: Sequence[Path],
    config: ChunkingConfig,
    *,
    source: str = "python-faq",
    batch_size: int = 32,
) -> tuple[ReindexCounts, float]:
    """A full reindex of `pages` into `store` with the platform's indexer: its counts and seconds.
    Raises when any page fails: figures of a partial index would mislead."""
    indexer = Indexer(
        store=store,
        embedder=embedder,
        chunking=config,
        allowed_roots=sorted({p.parent for p in pages}),
        batch_size=batch_size,
    )
    command = ReindexRequested(
        request_id=source,
        session_id=source,
        user_id=source,
        source=ReindexSource(name=source, paths=[str(p) for p in pages]),
        mode="full",
    )
    started = time.perf_counter()
    status = await indexer.run(command, _ignore)
    if status.state != "done" or status.counts.failed:
        raise RuntimeError(f"indexing the corpus failed: {status.model_dump_json()}")
    return status.counts, time.perf_counter() - started


def _share_at_least(scores: Sequence[float], t: float) -> float:
    return sum(1 for s in scores if s >= t) / max(len(scores), 1)


def threshold_rows(
    positives: Sequence[float], negatives: Sequence[float], korean: Sequence[float] = ()
) -> list[ThresholdRow]:
    return [
        ThresholdRow(
            threshold=step / 100,
            answered=_share_at_least(positives, step / 100),
            refused=1 - _share_at_least(negatives, step / 100),
            answered_korean=_share_at_least(korean, step / 100) if korean else None,
        )
        for step in range(76, 93)
    ]


async def evaluate(
    *,
    questions: Sequence[Question],
    pages: Sequence[Path],
    strategies: Sequence[Strategy],
    size: int,
    overlap: int,
    embedder: Embedder,
    off_topic: Sequence[str] = (),
    korean: Sequence[tuple[str, Question]] = (),
) -> Evaluation:
    query_vectors = [await embedder.query(q.query) for q in questions]
    negative_vectors = [await embedder.query(text) for text in off_topic]
    korean_vectors = [await embedder.query(text) for text, _ in korean]
    korean_ranks: list[int | None] = []
    korean_included: list[bool] = []
    korean_scores: list[float] = []
    results: list[StrategyResult] = []
    positives: list[float] = []
    negatives: list[float] = []
    for strategy in strategies:
        with tempfile.TemporaryDirectory(prefix=f"rag-eval-{strategy}-") as folder:
            store = open_store(RagSettings(store_path=folder), embedder.dimensions)
            try:
                _, seconds = await index_pages(store, embedder, pages, ChunkingConfig(strategy, size, overlap))
                chunks = await store.count()
                ranks: list[int | None] = []
                included: list[bool] = []
                for question, vector in zip(questions, query_vectors, strict=True):
                    hits = await store.search(vector, max(KS), tenant=DEFAULT_TENANT)
                    ranks.append(rank_of_gold(hits, question))
                    included.append(includes_key_text(hits, question))
                    if not results:
                        positives.append(hits[0].score if hits else 0.0)
                if not results:
                    for vector in negative_vectors:
                        hits = await store.search(vector, 1, tenant=DEFAULT_TENANT)
                        negatives.append(hits[0].score if hits else 0.0)
                    for (_, gold), vector in zip(korean, korean_vectors, strict=True):
                        hits = await store.search(vector, max(KS), tenant=DEFAULT_TENANT)
                        korean_ranks.append(rank_of_gold(hits, gold))
                        korean_included.append(includes_key_text(hits, gold))
                        korean_scores.append(hits[0].score if hits else 0.0)
            finally:
                await store.close()
        results.append(StrategyResult(strategy, chunks, round(seconds, 2), summarise(ranks, included)))
    return Evaluation(
        results,
        threshold_rows(positives, negatives, korean_scores),
        positives,
        negatives,
        summarise(korean_ranks, korean_included) if korean else None,
        korean_scores,
    )
