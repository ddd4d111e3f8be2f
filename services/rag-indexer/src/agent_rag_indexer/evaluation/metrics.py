"""Scoring one ranked list against its gold passage, and the averages over a question set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent_common.rag.records import ScoredChunk
from agent_rag_indexer.evaluation.labels import Question

KS = (1, 3, 5, 10)
# The passages the prompt is built from (RAG_TOP_K's default).
PROMPT_K = 5
# A chunk is the gold passage when it covers this much of the gold section, or the
# gold section makes up this much of the chunk (a long section is split over chunks).
MIN_SHARE = 0.3


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def is_gold(hit: ScoredChunk, question: Question) -> bool:
    record = hit.record
    if record.doc_id != question.doc_id:
        return False
    overlap = min(record.char_end, question.gold_end) - max(record.char_start, question.gold_start)
    if overlap <= 0:
        return False
    gold = max(question.gold_end - question.gold_start, 1)
    chunk = max(record.char_end - record.char_start, 1)
    return overlap / gold >= MIN_SHARE or overlap / chunk >= MIN_SHARE


def rank_of_gold(hits: Sequence[ScoredChunk], question: Question) -> int | None:
    """1-based rank of the first gold chunk, or None when it is not retrieved."""
    return next((i for i, hit in enumerate(hits, start=1) if is_gold(hit, question)), None)


def includes_key_text(hits: Sequence[ScoredChunk], question: Question, k: int = PROMPT_K) -> bool:
    """Whether the gold answer's key text is in the passages the prompt would be built from."""
    built_from = " ".join(_flat(hit.record.text) for hit in hits[:k])
    return _flat(question.key_text) in built_from


@dataclass(frozen=True)
class Scores:
    questions: int
    hit_at: dict[int, float]
    mrr: float
    inclusion: float


def summarise(ranks: Sequence[int | None], included: Sequence[bool]) -> Scores:
    n = max(len(ranks), 1)
    return Scores(
        questions=len(ranks),
        hit_at={k: sum(1 for r in ranks if r is not None and r <= k) / n for k in KS},
        mrr=sum(1 / r for r in ranks if r is not None) / n,
        inclusion=sum(included) / n,
    )
