"""Does BM25 fused with the dense ranking (reciprocal rank fusion) beat dense retrieval alone?

`.venv/bin/python scripts/rag_fusion_experiment.py heading,paragraph,fixed`

The measurement behind docs/rag.md's decision on lexical retrieval, kept to be run
again on a better labelled set. Same corpus, questions, chunking and metrics as
`make rag-eval`; BM25 (k1 1.2, b 0.75) over each chunk's title, heading path and
text, Latin words as tokens and Hangul as character bigrams; RRF with k = 60
over the dense and the BM25 top 50.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml

from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.records import ChunkRecord, ScoredChunk
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_rag_indexer.chunking import ChunkingConfig
from agent_rag_indexer.evaluation import labels
from agent_rag_indexer.evaluation.labels import Question
from agent_rag_indexer.evaluation.metrics import includes_key_text, rank_of_gold, summarise
from agent_rag_indexer.evaluation.runner import index_pages

KOREAN = Path(__file__).resolve().parents[1] / "evals" / "rag" / "korean.yaml"
WORD = re.compile(r"[a-z0-9_]+|[\uac00-\ud7a3]+")


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for token in WORD.findall(text.lower()):
        if "\uac00" <= token[0] <= "\ud7a3":
            out += [token[i : i + 2] for i in range(max(1, len(token) - 1))]
        else:
            out.append(token)
    return out


class BM25:
    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.tf = [Counter(tokens(d)) for d in documents]
        self.lengths = [sum(c.values()) for c in self.tf]
        self.average = sum(self.lengths) / len(self.lengths)
        df = Counter(t for counts in self.tf for t in counts)
        self.idf = {t: math.log(1 + (len(documents) - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def top(self, query: str, limit: int) -> list[int]:
        terms = tokens(query)
        scores = []
        for i, counts in enumerate(self.tf):
            norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.average)
            matched = (t for t in terms if t in counts)
            scores.append(sum(self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in matched))
        return [i for i in sorted(range(len(scores)), key=lambda i: -scores[i])[:limit] if scores[i] > 0]


def fuse(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            score[item] = score.get(item, 0.0) + 1 / (k + rank)
    return sorted(score, key=lambda item: -score[item])


async def main(strategies: list[str]) -> None:
    pages = labels.faq_pages()
    questions = [q for page in pages for q in labels.questions_of(labels.read_page(page))]
    by_query = {q.query: q for q in questions}
    korean = [(str(w["ko"]), by_query[w["en"]]) for w in yaml.safe_load(KOREAN.read_text()) if w["en"] in by_query]
    sets: dict[str, list[tuple[str, Question]]] = {"en": [(q.query, q) for q in questions], "ko": korean}
    embedder = OfflineEmbedder()
    vectors = {name: [await embedder.query(text) for text, _ in items] for name, items in sets.items()}
    for strategy in strategies:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(RagSettings(store_path=folder), embedder.dimensions)
            await index_pages(store, embedder, pages, ChunkingConfig(strategy, 1200, 200))  # type: ignore[arg-type]
            points, _ = await store.client.scroll(str(await store.live_collection()), limit=100_000, with_payload=True)
            records = [ChunkRecord.model_validate(p.payload) for p in points]
            index = {(r.doc_id, r.chunk_index): i for i, r in enumerate(records)}
            bm25 = BM25([" ".join([r.title, *r.heading_path, r.text]) for r in records])
            for name, items in sets.items():
                row = {}
                for mode in ("dense", "fused", "bm25"):
                    ranks, included = [], []
                    for (text, gold), vector in zip(items, vectors[name], strict=True):
                        dense = [index[(h.record.doc_id, h.record.chunk_index)] for h in await store.search(vector, 50)]
                        lexical = bm25.top(text, 50)
                        order = {"dense": dense, "bm25": lexical, "fused": fuse([dense, lexical])}[mode][:10]
                        hits = [ScoredChunk(record=records[i], score=0.0) for i in order]
                        ranks.append(rank_of_gold(hits, gold))
                        included.append(includes_key_text(hits, gold))
                    scores = summarise(ranks, included)
                    row[mode] = {
                        "hit@1": round(scores.hit_at[1], 3),
                        "hit@5": round(scores.hit_at[5], 3),
                        "mrr": round(scores.mrr, 3),
                    }
                print(strategy, name, len(items), json.dumps(row), flush=True)
            await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1].split(",") if len(sys.argv) > 1 else ["heading"]))
