"""The passages a question is answered from: one ranking for the orchestrator and `agent rag-eval`.

1. The question is embedded as asked and, when the glossary knows some of its terms, once
   more with them in English (`query_translation.py`); each passage keeps its better score.
2. At most `per_section` passages of one section (same document, same heading path) are
   kept, so one long section cannot fill the prompt and crowd out the second-best answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from agent_common.messages import DEFAULT_TENANT
from agent_common.rag.embeddings import Embedder
from agent_common.rag.query_translation import Glossary
from agent_common.rag.records import ScoredChunk
from agent_common.rag.store import VectorStore

# Candidates fetched per wording for each passage kept: room for the section cap to skip some.
OVERFETCH = 4


def _key(hit: ScoredChunk) -> tuple[str, str, str, int]:
    return hit.record.tenant, hit.record.source, hit.record.doc_id, hit.record.chunk_index


def merge(rankings: Sequence[Sequence[ScoredChunk]]) -> list[ScoredChunk]:
    """Several rankings of one index as one: each passage at its best score, best first."""
    best: dict[tuple[str, str, str, int], ScoredChunk] = {}
    for ranking in rankings:
        for hit in ranking:
            kept = best.get(_key(hit))
            if kept is None or hit.score > kept.score:
                best[_key(hit)] = hit
    return sorted(best.values(), key=lambda hit: -hit.score)


def diversify(hits: Sequence[ScoredChunk], limit: int, per_section: int) -> list[ScoredChunk]:
    """The first `limit` hits, at most `per_section` of any one section, in rank order."""
    taken: Counter[tuple[str, tuple[str, ...]]] = Counter()
    kept: list[ScoredChunk] = []
    for hit in hits:
        section = (hit.record.doc_id, tuple(hit.record.heading_path))
        if taken[section] >= per_section:
            continue
        taken[section] += 1
        kept.append(hit)
        if len(kept) == limit:
            break
    return kept


async def rank(
    store: VectorStore,
    embedder: Embedder,
    question: str,
    limit: int,
    *,
    tenant: str = DEFAULT_TENANT,
    glossary: Glossary | None = None,
    per_section: int = 2,
) -> list[ScoredChunk]:
    """The `limit` passages of `tenant`'s documents closest to the question, best first (empty
    before anything of the tenant's is indexed); the store filters by tenant."""
    wordings = [question]
    if glossary is not None and (translated := glossary.translate(question)) is not None:
        wordings.append(translated)
    fetch = limit * OVERFETCH
    rankings = [await store.search(await embedder.query(wording), fetch, tenant=tenant) for wording in wordings]
    return diversify(merge(rankings), limit, per_section)
