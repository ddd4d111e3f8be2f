"""Index the corpus once per chunking strategy, in a throwaway embedded store, and rank
every labelled question against it with the same embedder and store code the platform uses."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent_common.messages import ReindexCounts, ReindexRequested, ReindexSource, ReindexStatus
from agent_common.rag.context import language_of
from agent_common.rag.embeddings import Embedder
from agent_common.rag.query_translation import Glossary
from agent_common.rag.ranking import rank
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore, open_store
from agent_rag_indexer.chunking import ChunkingConfig, Strategy
from agent_rag_indexer.evaluation.labels import Question, Translated, fold, is_held_out
from agent_rag_indexer.evaluation.metrics import KS, includes_key_text, rank_of_gold, summarise
from agent_rag_indexer.evaluation.report import LanguageResult, StrategyResult, ThresholdRow
from agent_rag_indexer.indexer import Indexer


@dataclass(frozen=True)
class Evaluation:
    results: list[StrategyResult]
    thresholds: list[ThresholdRow]
    # Best passage score of each FAQ question and each off-topic question (the first strategy's index).
    positive_scores: list[float]
    negative_scores: list[float]
    # Per language and split (all, held-out), on the first strategy's index.
    languages: list[LanguageResult] = field(default_factory=list)
    korean_scores: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Asked:
    """One question as ranked: the rank of its gold passage, whether the prompt would hold its key
    text, and the best score (what the threshold compares)."""

    rank: int | None
    included: bool
    best: float


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
    positives: Sequence[float],
    negatives: Sequence[float],
    korean: Sequence[float] = (),
    korean_negatives: Sequence[float] = (),
) -> list[ThresholdRow]:
    return [
        ThresholdRow(
            threshold=step / 1000,
            answered=_share_at_least(positives, step / 1000),
            refused=1 - _share_at_least(negatives, step / 1000),
            answered_korean=_share_at_least(korean, step / 1000) if korean else None,
            refused_korean=1 - _share_at_least(korean_negatives, step / 1000) if korean_negatives else None,
        )
        for step in range(780, 881, 5)
    ]


def language_result(
    language: str, split: str, asked: Sequence[Asked], threshold: float, off_topic: Sequence[float]
) -> LanguageResult:
    return LanguageResult(
        language=language,
        split=split,
        scores=summarise([a.rank for a in asked], [a.included for a in asked]),
        threshold=threshold,
        false_fallbacks=1 - _share_at_least([a.best for a in asked], threshold),
        off_topic=len(off_topic),
        off_topic_refused=1 - _share_at_least(off_topic, threshold),
    )


class _Ranker:
    """Ranks questions on one index the way the orchestrator does (`agent_common.rag.ranking`)."""

    def __init__(self, store: VectorStore, embedder: Embedder, ranking: Ranking) -> None:
        self.store, self.embedder, self.ranking = store, embedder, ranking

    async def ask(self, query: str, gold: Question | None, glossary: Glossary | None = None) -> Asked:
        hits = await rank(
            self.store,
            self.embedder,
            query,
            max(KS),
            glossary=glossary if glossary is not None else self.ranking.glossary,
            per_section=self.ranking.per_section,
        )
        best = hits[0].score if hits else 0.0
        if gold is None:
            return Asked(None, False, best)
        return Asked(rank_of_gold(hits, gold), includes_key_text(hits, gold), best)


@dataclass(frozen=True)
class Ranking:
    """How questions are ranked and judged covered: the platform's settings, or a variant to compare."""

    thresholds: dict[str, float]
    glossary: Glossary | None = None
    per_section: int = 2


async def evaluate(
    *,
    questions: Sequence[Question],
    pages: Sequence[Path],
    strategies: Sequence[Strategy],
    size: int,
    overlap: int,
    embedder: Embedder,
    ranking: Ranking,
    off_topic: Sequence[str] = (),
    korean: Sequence[Translated] = (),
) -> Evaluation:
    results: list[StrategyResult] = []
    english: list[Asked] = []
    languages: list[LanguageResult] = []
    korean_asked: list[Asked] = []
    negatives: dict[str, list[float]] = {"en": [], "ko": []}
    for strategy in strategies:
        with tempfile.TemporaryDirectory(prefix=f"rag-eval-{strategy}-") as folder:
            store = open_store(RagSettings(store_path=folder), embedder.dimensions)
            try:
                _, seconds = await index_pages(store, embedder, pages, ChunkingConfig(strategy, size, overlap))
                chunks = await store.count()
                ranker = _Ranker(store, embedder, ranking)
                asked = [await ranker.ask(q.query, q) for q in questions]
                if not results:  # the default strategy's index: languages, off-topic, thresholds
                    english = asked
                    for text in off_topic:
                        negatives[language_of(text)].append((await ranker.ask(text, None)).best)
                    korean_asked = [await ranker.ask(k.query, k.question) for k in korean]
                    languages = await _per_language(ranker, questions, english, korean, korean_asked, negatives)
            finally:
                await store.close()
        scores = summarise([a.rank for a in asked], [a.included for a in asked])
        results.append(StrategyResult(strategy, chunks, round(seconds, 2), scores))
    positives = [a.best for a in english]
    korean_scores = [a.best for a in korean_asked]
    return Evaluation(
        results,
        threshold_rows(positives, negatives["en"], korean_scores, negatives["ko"]),
        positives,
        negatives["en"] + negatives["ko"],
        languages,
        korean_scores,
    )


async def _per_language(
    ranker: _Ranker,
    questions: Sequence[Question],
    english: Sequence[Asked],
    korean: Sequence[Translated],
    korean_asked: Sequence[Asked],
    negatives: dict[str, list[float]],
) -> list[LanguageResult]:
    """Every question, then the held-out ones; held-out Korean questions are ranked again with a
    glossary stripped of the terms only they use, as if it had been written without seeing them,
    and so is every Korean question, fold by fold."""
    thresholds = ranker.ranking.thresholds
    held = [is_held_out(q.id) for q in questions]
    rows = [
        language_result("en", "all", english, thresholds["en"], negatives["en"]),
        language_result(
            "en", "held-out", [a for a, h in zip(english, held, strict=True) if h], thresholds["en"], negatives["en"]
        ),
    ]
    if not korean:
        return rows
    rows.append(language_result("ko", "all", korean_asked, thresholds["ko"], negatives["ko"]))
    glossary = ranker.ranking.glossary
    stripped = glossary
    if glossary is not None:
        stripped = _stripped(
            glossary, [k.query for k in korean if k.held_out], [k.query for k in korean if not k.held_out]
        )
    held_out = [await ranker.ask(k.query, k.question, stripped) for k in korean if k.held_out]
    rows.append(language_result("ko", "held-out", held_out, thresholds["ko"], negatives["ko"]))
    if glossary is not None:
        rows.append(
            language_result(
                "ko", f"{FOLDS}-fold", await _folds(ranker, glossary, korean), thresholds["ko"], negatives["ko"]
            )
        )
    return rows


# Every Korean question held out once: ten folds by the id's CRC-32, a figure on all of them.
FOLDS = 10


def _stripped(glossary: Glossary, held_out: Sequence[str], others: Sequence[str]) -> Glossary:
    """The glossary less every term the held-out questions use and no other question does."""
    seen = set().union(*(glossary.terms_in(q) for q in others))
    return glossary.without(set().union(*(glossary.terms_in(q) for q in held_out)) - seen)


async def _folds(ranker: _Ranker, glossary: Glossary, korean: Sequence[Translated]) -> list[Asked]:
    """Each question ranked with the glossary stripped of the terms only its fold uses: a held-out
    figure on every question rather than three in ten (the one split varies by a question or two)."""
    fold_of = [fold(k.question.id, FOLDS) for k in korean]
    asked: list[Asked] = []
    for number in range(FOLDS):
        inside = [k.query for k, f in zip(korean, fold_of, strict=True) if f == number]
        outside = [k.query for k, f in zip(korean, fold_of, strict=True) if f != number]
        stripped = _stripped(glossary, inside, outside)
        asked += [
            await ranker.ask(k.query, k.question, stripped) for k, f in zip(korean, fold_of, strict=True) if f == number
        ]
    return asked
