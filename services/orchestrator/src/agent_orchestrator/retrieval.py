"""Retrieval before the model call: the passages of the user's documents that match the
question, numbered for the prompt, and whether they match well enough to answer from.

Decision: retrieve before every model call rather than offer the model a search tool.
Every model, the offline one included, then answers from the same passages, the
threshold is enforced by the platform rather than left to the model, and a turn costs
one model call instead of two. A message naming a URL is about that page (the
`http_get` tool), not the documents, so it is not retrieved for.

Policy: the documents answer what they cover (passages in the prompt, cited); what they
do not cover the model answers on its own, uncited, so a platform with documents is still
a chat assistant ("Hello!"). Only a documents-only caller (`RAG_DOCUMENTS_ONLY`, or its
tenant in `RAG_DOCUMENTS_ONLY_TENANTS`) gets the platform's no-match fallback instead.

Capping: the passages go into the prompt in rank order while their estimated tokens fit
`RAG_PROMPT_TOKENS` (the best one always): `RAG_TOP_K` long chunks would otherwise make
every grounded prompt, and every later step and turn that carries it, pay for passages
ranked too low to be cited.

Scoring: the passages come from `agent_common.rag.ranking` (a Korean question searched once
more with its terms in English, at most two passages per section); the threshold is the
question's language's (`RAG_SCORE_THRESHOLD`, `RAG_SCORE_THRESHOLD_KO`): Korean questions
score lower against the same passage. The client is told the best score and whether it was
a near miss (`done`'s `retrieval`), and `done` cites only the passages the answer cites.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import Counter, Histogram

from agent_common.errors import PlatformError
from agent_common.events import Citation, RetrievalSummary
from agent_common.messages import DEFAULT_TENANT
from agent_common.rag.context import context_message, fallback, language_of
from agent_common.rag.embeddings import Embedder, build_embedder
from agent_common.rag.query_translation import Glossary
from agent_common.rag.ranking import rank
from agent_common.rag.records import ChunkRecord, ScoredChunk
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore, open_store
from agent_common.token_estimate import estimate_tokens

log = logging.getLogger("agent.orchestrator.retrieval")

RETRIEVALS = Counter(
    "rag_retrievals_total",
    "Questions retrieved for, by outcome: covered (passages in the prompt), uncovered (under the threshold: "
    "the model answers alone), fallback (under the threshold, documents-only: the no-match fallback), "
    "skipped (nothing indexed, a URL question, or the store failing).",
    ["outcome"],
)
OUTCOMES = ("covered", "uncovered", "fallback", "skipped")
for _outcome in OUTCOMES:  # exported from start-up, at 0: a first burst shows in rate()
    RETRIEVALS.labels(_outcome)
BEST_SCORE = Histogram(
    "rag_best_score",
    "Cosine similarity of the best passage per question searched (RAG_SCORE_THRESHOLD decides).",
    buckets=(0.7, 0.75, 0.78, 0.8, 0.82, 0.825, 0.83, 0.84, 0.86, 0.88, 0.9, 0.95),
)

SNIPPET_CHARS = 240
# The `model` of a `done` event the platform answered itself (the no-match fallback).
FALLBACK_MODEL = "rag-fallback"
_URL = re.compile(r"https?://\S", re.IGNORECASE)


@dataclass(frozen=True)
class Retrieved:
    """What retrieval found for one question."""

    # False when there is no index to search (nothing indexed yet): the run goes on as before.
    searched: bool
    best_score: float = 0.0
    covered: bool = False
    citations: list[Citation] = field(default_factory=list)
    context: str | None = None
    # The threshold of the question's language, and whether the best score fell just under it.
    threshold: float = 0.0
    near_miss: bool = False


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def citation_of(marker: int, hit: ScoredChunk) -> Citation:
    r = hit.record
    return Citation(
        marker=marker,
        title=r.title,
        # The name the indexer gave it (a path relative to its allowed root), never a server path.
        source=r.name or r.doc_id,
        version=r.version,
        location=r.location(),
        heading_path=r.heading_path,
        page=r.page,
        char_start=r.char_start,
        char_end=r.char_end,
        snippet=snippet(r.text),
        score=round(hit.score, 4),
    )


@dataclass(frozen=True)
class DocumentsOnly:
    """Who is answered from the documents alone: everyone, or the tenants named."""

    everyone: bool = False
    tenants: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: RagSettings) -> DocumentsOnly:
        return cls(everyone=settings.documents_only, tenants=frozenset(settings.documents_only_tenants))

    def applies_to(self, tenant: str | None) -> bool:
        return self.everyone or (tenant is not None and tenant in self.tenants)


class Retriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        top_k: int,
        threshold: float,
        documents_only: DocumentsOnly = DocumentsOnly(),
        korean_threshold: float | None = None,
        near_miss_margin: float = 0.02,
        per_section: int = 2,
        glossary: Glossary | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.threshold = threshold
        self.korean_threshold = korean_threshold
        self.near_miss_margin = near_miss_margin
        self.per_section = per_section
        self.glossary = glossary
        self.documents_only = documents_only
        self.prompt_tokens = prompt_tokens

    @classmethod
    def from_settings(cls, settings: RagSettings, store: VectorStore, embedder: Embedder) -> Retriever:
        return cls(
            store,
            embedder,
            top_k=settings.top_k,
            threshold=settings.score_threshold,
            documents_only=DocumentsOnly.of(settings),
            korean_threshold=settings.score_threshold_ko,
            near_miss_margin=settings.near_miss_margin,
            per_section=settings.max_passages_per_section,
            glossary=Glossary.load(settings.query_glossary) if settings.query_translation else None,
            prompt_tokens=settings.prompt_tokens,
        )

    def threshold_for(self, question: str) -> float:
        """Scores depend on the language the question is written in, not on the caller's locale."""
        if self.korean_threshold is not None and language_of(question) == "ko":
            return self.korean_threshold
        return self.threshold

    async def retrieve(self, question: str, tenant: str = DEFAULT_TENANT) -> Retrieved:
        """The passages of `tenant`'s documents for `question` (the store filters by tenant)."""
        if _URL.search(question):
            return Retrieved(searched=False)
        try:
            if await self.store.live_version() is None:  # nothing indexed yet: no model to load
                return Retrieved(searched=False)
            hits = await rank(
                self.store,
                self.embedder,
                question,
                self.top_k,
                tenant=tenant,
                glossary=self.glossary,
                per_section=self.per_section,
            )
        except PlatformError as exc:
            # The documents being unreachable must not take chat down: answer without them, loudly.
            log.warning("retrieval failed; answering without documents", extra={"error_code": exc.code.value})
            return Retrieved(searched=False)
        if not hits:  # an index, but nothing of the caller's tenant in it: nothing covers the question
            return Retrieved(searched=True)
        best = hits[0].score
        threshold = self.threshold_for(question)
        if best < threshold:
            near_miss = threshold - best < self.near_miss_margin
            log.info("no passage above the threshold", extra={"best_score": round(best, 4), "near_miss": near_miss})
            return Retrieved(searched=True, best_score=best, threshold=threshold, near_miss=near_miss)
        hits = within_prompt_budget(hits, self.prompt_tokens)
        citations = [citation_of(i, hit) for i, hit in enumerate(hits, start=1)]
        context = context_message(citations, [hit.record.text for hit in hits])
        return Retrieved(
            searched=True, best_score=best, covered=True, citations=citations, context=context, threshold=threshold
        )

    async def ping(self) -> bool:
        return await self.store.ping()

    async def close(self) -> None:
        await self.embedder.close()
        await self.store.close()


def within_prompt_budget(hits: list[ScoredChunk], budget: int | None) -> list[ScoredChunk]:
    """The best-ranked `hits` whose passages fit `budget` estimated tokens together, in rank order
    (the best always, however long): the passages the prompt is built from."""
    if budget is None:
        return hits
    kept, used = hits[:1], passage_tokens(hits[0].record) if hits else 0
    for hit in hits[1:]:
        used += passage_tokens(hit.record)
        if used > budget:
            break
        kept.append(hit)
    return kept


def passage_tokens(record: ChunkRecord) -> int:
    """A passage's estimated size in the prompt: its text and its heading line (`context_message`)."""
    return estimate_tokens(record.text) + estimate_tokens(
        f"[99] {record.title} ({record.location()}, {record.name or record.doc_id}, version {record.version})"
    )


def build_retriever(settings: RagSettings) -> Retriever | None:
    """The orchestrator process reads the documents from the shared PostgreSQL store (`RAG_STORE_URL`):
    an embedded store's folder can be open in one process only, the indexer's."""
    if settings.store_url is None:
        return None
    embedder = build_embedder(settings)
    return Retriever.from_settings(settings, open_store(settings, embedder.dimensions), embedder)


@dataclass(frozen=True)
class Grounding:
    """What a run's prompt gets from the documents: passages to answer from (`context`, cited
    as `citations`), or, for a documents-only caller, the platform's own answer when they do not
    cover the question (`fallback`), or neither (the model answers on its own)."""

    context: str | None = None
    citations: list[Citation] = field(default_factory=list)
    fallback: str | None = None
    # For `done`: the best score against the threshold (None when nothing was searched).
    summary: RetrievalSummary | None = None


async def ground(retriever: Retriever, question: str, locale: str | None, tenant: str | None = None) -> Grounding:
    """The passages of the caller's tenant's documents for a run's question; for a question they do
    not cover, nothing (the model answers alone) or, documents-only, the no-match fallback text.
    Counted by outcome. A run with no tenant (an older message) is the default tenant's."""
    retrieved = await retriever.retrieve(question, tenant or DEFAULT_TENANT)
    if not retrieved.searched:
        RETRIEVALS.labels("skipped").inc()
        return Grounding()
    BEST_SCORE.observe(retrieved.best_score)

    def summary(outcome: Literal["covered", "uncovered", "fallback"]) -> RetrievalSummary:
        return RetrievalSummary(
            outcome=outcome,
            best_score=round(retrieved.best_score, 4),
            threshold=retrieved.threshold,
            near_miss=retrieved.near_miss,
        )

    if not retrieved.covered or retrieved.context is None:
        if retriever.documents_only.applies_to(tenant):
            RETRIEVALS.labels("fallback").inc()
            return Grounding(fallback=fallback(question, locale), summary=summary("fallback"))
        RETRIEVALS.labels("uncovered").inc()
        return Grounding(summary=summary("uncovered"))
    RETRIEVALS.labels("covered").inc()
    return Grounding(context=retrieved.context, citations=retrieved.citations, summary=summary("covered"))


# A citation as models write it: [1], [1, 3], [2-4] (a range: every number in it).
_MARKERS = re.compile(r"\[(\d+(?:\s*[,\u2013-]\s*\d+)*)\]")
_RANGE = re.compile(r"(\d+)\s*[\u2013-]\s*(\d+)")


def cited_markers(answer: str) -> set[int]:
    """The passage numbers an answer cites: `[1]`, `[1][3]`, `[1, 2]`, `[2-4]`."""
    found: set[int] = set()
    for group in _MARKERS.finditer(answer):
        for part in group.group(1).split(","):
            if span := _RANGE.fullmatch(part.strip()):
                found.update(range(int(span.group(1)), int(span.group(2)) + 1))
            else:
                found.add(int(part))
    return found


def cited(answer: str, citations: list[Citation]) -> list[Citation]:
    """The citations the answer cites by marker, in marker order (`done`'s `citations`)."""
    markers = cited_markers(answer)
    return [c for c in citations if c.marker in markers]
