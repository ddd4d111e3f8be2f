"""`agent rag-eval`: index the Python FAQ per chunking strategy and report retrieval quality.

The labelled set is built from Debian's `python3.11-doc` package (see
agent_rag_indexer.evaluation.labels); the off-topic questions in
`evals/rag/off-topic.yaml` calibrate the score thresholds, and `evals/rag/korean.yaml` asks
every FAQ question in Korean too (the figures are per language, held-out part apart). Writes `rag-eval.md`
(the table), `rag-eval.json` and `rag-eval.png` (the chart) under `--out`, and
exits 1 when the default strategy's hit@5 is under `--min-hit-at-5`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import yaml

from agent_common.rag.embeddings import build_embedder
from agent_common.rag.query_translation import Glossary
from agent_common.rag.settings import RagSettings
from agent_rag_indexer.chunking import STRATEGIES, Strategy
from agent_rag_indexer.evaluation import labels
from agent_rag_indexer.evaluation.report import write
from agent_rag_indexer.settings import IndexerSettings

DEFAULT_OFF_TOPIC = Path("evals/rag/off-topic.yaml")
DEFAULT_KOREAN = Path("evals/rag/korean.yaml")
DEFAULT_OUT = Path("bench-results/rag")


def _strategies(value: str) -> list[Strategy]:
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}")
    return [s for s in STRATEGIES if s in chosen]


def run(args: argparse.Namespace) -> int:
    # Imported here: the vector store's client takes seconds to import, and every `agent` command would wait.
    from agent_rag_indexer.evaluation.runner import Ranking, evaluate

    pages = labels.faq_pages(args.faq_dir, args.pages.split(",") if args.pages else None)
    questions = [q for page in pages for q in labels.questions_of(labels.read_page(page))]
    if args.labels_out:
        labels.write_jsonl(questions, args.labels_out)
    off_topic = yaml.safe_load(args.off_topic.read_text(encoding="utf-8")) if args.off_topic.exists() else []
    wordings = yaml.safe_load(args.korean.read_text(encoding="utf-8")) if args.korean.exists() else []
    korean = labels.translations_of(wordings or [], questions, "ko")
    indexer_settings = IndexerSettings()
    rag = RagSettings()
    # Ranked and judged as the orchestrator does, with the same settings.
    ranking = Ranking(
        thresholds={"en": rag.threshold_for("en"), "ko": rag.threshold_for("ko")},
        glossary=Glossary.load(rag.query_glossary) if rag.query_translation else None,
        per_section=rag.max_passages_per_section,
    )
    size = args.chunk_size or indexer_settings.chunk_size
    overlap = args.chunk_overlap if args.chunk_overlap is not None else indexer_settings.chunk_overlap
    default = indexer_settings.chunk_strategy
    # The default strategy first: the threshold is calibrated on its index.
    strategies = sorted(args.strategies, key=lambda s: s != default)
    print(f"rag-eval: {len(questions)} questions from {len(pages)} FAQ pages, strategies {strategies}", file=sys.stderr)
    embedder = build_embedder(rag)
    evaluation = asyncio.run(
        evaluate(
            questions=questions,
            pages=pages,
            strategies=strategies,
            size=size,
            overlap=overlap,
            embedder=embedder,
            ranking=ranking,
            off_topic=[str(q) for q in off_topic],
            korean=korean,
        )
    )
    config = {
        "pages": [p.name for p in pages],
        "questions": len(questions),
        "embedder": embedder.name,
        "chunk_size": size,
        "chunk_overlap": overlap,
        "top_k_in_prompt": 5,
        "score_thresholds": ranking.thresholds,
        "query_translation": ranking.glossary is not None,
        "max_passages_per_section": ranking.per_section,
    }
    print(write(args.out, evaluation.results, evaluation.thresholds, config, evaluation.languages))
    print(f"rag-eval: wrote {args.out}/rag-eval.md, rag-eval.json, rag-eval.png", file=sys.stderr)
    if args.min_hit_at_5 is not None:
        measured = next((r for r in evaluation.results if r.strategy == default), evaluation.results[0])
        hit5 = measured.scores.hit_at[5]
        if hit5 < args.min_hit_at_5:
            print(
                f"rag-eval: FAILED: hit@5 of `{measured.strategy}` is {hit5:.3f}, under the floor {args.min_hit_at_5}",
                file=sys.stderr,
            )
            return 1
        print(f"rag-eval: hit@5 of `{measured.strategy}` {hit5:.3f} >= floor {args.min_hit_at_5}", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser("rag-eval", help="Measure retrieval (hit@k, MRR, inclusion) per chunking strategy.")
    cmd.add_argument("--faq-dir", type=Path, default=labels.FAQ_DIR, help="The python3.11-doc FAQ folder.")
    cmd.add_argument("--pages", help="Only these FAQ pages, comma-separated (e.g. general.html): a slice.")
    cmd.add_argument(
        "--strategies", type=_strategies, default=list(STRATEGIES), help="Chunking strategies, comma-separated."
    )
    cmd.add_argument("--chunk-size", type=int, help="Characters per chunk (default: RAG_INDEXER_CHUNK_SIZE).")
    cmd.add_argument("--chunk-overlap", type=int, help="Overlap (default: RAG_INDEXER_CHUNK_OVERLAP).")
    cmd.add_argument("--off-topic", type=Path, default=DEFAULT_OFF_TOPIC, help="Negatives for the threshold.")
    cmd.add_argument("--korean", type=Path, default=DEFAULT_KOREAN, help="The FAQ questions asked in Korean.")
    cmd.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Folder for the table, JSON and chart.")
    cmd.add_argument("--labels-out", type=Path, help="Also write the labelled set as JSON lines here.")
    cmd.add_argument("--min-hit-at-5", type=float, help="Exit 1 when the default strategy's hit@5 is under it.")
    cmd.set_defaults(handler=run)
