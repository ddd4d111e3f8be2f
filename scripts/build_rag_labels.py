"""Build the RAG evaluation's labelled set from the installed python3.11-doc FAQ.

python scripts/build_rag_labels.py [OUT.jsonl]   # default: bench-results/rag/python311-faq.jsonl

Beside it, `<OUT>-ko.jsonl`: the same questions asked in Korean (`evals/rag/korean.yaml`), each
with its English question's gold passage; the held-out ids (three in ten) are printed.

One JSON object per line: `id`, `query` (an FAQ question heading), `doc_id` (the page),
`gold_start`/`gold_end` (the section under the heading, as offsets in the text the
indexer extracts) and `key_text` (the answer's first words). `agent rag-eval` builds the
same set itself; this writes it down for inspection (docs/rag.md).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import yaml

from agent_rag_indexer.evaluation.labels import build, translations_of, write_jsonl

KOREAN = Path(__file__).resolve().parents[1] / "evals" / "rag" / "korean.yaml"

DEFAULT_OUT = Path("bench-results/rag/python311-faq.jsonl")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    questions = build()
    write_jsonl(questions, out)
    print(f"{len(questions)} questions from the python3.11-doc FAQ written to {out}")
    korean = translations_of(yaml.safe_load(KOREAN.read_text(encoding="utf-8")), questions, "ko")
    korean_out = out.with_name(f"{out.stem}-ko.jsonl")
    write_jsonl([dataclasses.replace(k.question, query=k.query) for k in korean], korean_out)
    held_out = [k.question.id for k in korean if k.held_out]
    print(f"{len(korean)} Korean questions written to {korean_out}; held out: {', '.join(held_out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
