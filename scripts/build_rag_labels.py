"""Build the RAG evaluation's labelled set from the installed python3.11-doc FAQ.

python scripts/build_rag_labels.py [OUT.jsonl]   # default: bench-results/rag/python311-faq.jsonl

One JSON object per line: `id`, `query` (an FAQ question heading), `doc_id` (the page),
`gold_start`/`gold_end` (the section under the heading, as offsets in the text the
indexer extracts) and `key_text` (the answer's first words). `agent rag-eval` builds the
same set itself; this writes it down for inspection (docs/rag.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent_rag_indexer.evaluation.labels import build, write_jsonl

DEFAULT_OUT = Path("bench-results/rag/python311-faq.jsonl")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    questions = build()
    write_jsonl(questions, out)
    print(f"{len(questions)} questions from the python3.11-doc FAQ written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
