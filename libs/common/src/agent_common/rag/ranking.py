"""The passages a question is answered from: one ranking for the orchestrator and `agent rag-eval`.

1. The question is embedded as asked and, when the glossary knows some of its terms, once
   more with them in English (`query_translation.py`); each passage keeps its better score.
   When the passages found use English words that its Hangul loanwords sound like (디버거,
   debugger: `loanwords.py`), it is searched once more with those rendered in English too.
2. A Korean question's English words (`GIL을 없애려면`) raise the passages that have them,
   when few passages do (`agree`): the one lexical signal a Korean question about English
   text carries. Scores are then cosine similarity plus that bonus.
3. At most `per_section` passages of one section (same document, same heading path) are
   kept, so one long section cannot fill the prompt and crowd out the second-best answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from agent_common.messages import DEFAULT_TENANT
from agent_common.rag import loanwords
from agent_common.rag.context import language_of
from agent_common.rag.embeddings import Embedder
from agent_common.rag.query_translation import Glossary
from agent_common.rag.records import ScoredChunk
from agent_common.rag.store import VectorStore

# Candidates fetched per wording for each passage kept: room for the section cap to skip some.
OVERFETCH = 4
# The best passages found whose English words a Korean question's loanwords are matched with.
LOANWORD_PASSAGES = 10


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


# English words, as typed in a Korean question and as read in a passage.
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
# A typed word tells passages apart when at most this share of the best `AGREEMENT_POOL` has it.
AGREEMENT_SHARE = 0.3
AGREEMENT_POOL = 20
# Added to a passage's score for each telling word it has: about the distance, for one passage,
# between a Korean question and the same question in English.
AGREEMENT_BONUS = 0.02


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def agree(question: str, hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    """`hits`, best first, with the passages that have the English words typed in a Korean
    question (`GIL을`, `self는`) raised by `AGREEMENT_BONUS` a word. Only words few of the best
    passages have count: a word every passage has (`with`, `Python`) tells none apart."""
    typed = _words(question)
    if not typed:
        return list(hits)
    words_of = [_words(hit.record.text) for hit in hits]
    pool = words_of[:AGREEMENT_POOL]
    telling = {word for word in typed if 0 < sum(word in words for words in pool) <= AGREEMENT_SHARE * len(pool)}
    if not telling:
        return list(hits)
    raised = [
        hit.model_copy(update={"score": hit.score + AGREEMENT_BONUS * len(telling & words)})
        for hit, words in zip(hits, words_of, strict=True)
    ]
    return sorted(raised, key=lambda hit: -hit.score)


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
    translated = glossary.translate(question) if glossary is not None else None
    if translated is not None:
        wordings.append(translated)
    fetch = limit * OVERFETCH

    async def search(wording: str) -> list[ScoredChunk]:
        return await store.search(await embedder.query(wording), fetch, tenant=tenant)

    rankings = [await search(wording) for wording in wordings]
    if glossary is not None and glossary.loanwords and language_of(question) == "ko":
        found = merge(rankings)[:LOANWORD_PASSAGES]
        words = loanwords.vocabulary(hit.record.text for hit in found)
        if (rendered := loanwords.render(translated or question, words)) is not None:
            rankings.append(await search(rendered))
    merged = merge(rankings)
    if language_of(question) == "ko":
        merged = agree(question, merged)
    return diversify(merged, limit, per_section)
