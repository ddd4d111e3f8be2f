"""Korean questions about English documents: technical terms rendered in English before embedding.

The offline embedder ranks a Korean question against English passages far worse than the
same question in English (hit@5 0.85 against 1.00 on the Python FAQ): its multilingual
space is coarse for technical vocabulary. A question with its terms rendered in English
("리스트를 정렬" -> "list를 sort") lands next to the English passage, while the rest of
the Korean sentence keeps its meaning. Retrieval searches with both wordings and keeps
each passage's better score (`ranking.py`); docs/rag.md#korean-questions has the figures.

A glossary, not a translation model: it runs offline in microseconds, needs nothing
downloaded, and a team adds its own domain's terms in a file (`RAG_QUERY_GLOSSARY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BUILT_IN = "glossary_ko_en.tsv"


@dataclass(frozen=True)
class Glossary:
    """Korean terms and their English renderings, longest term first; `loanwords`: also render
    the Hangul loanwords of a question that sound like English words of the passages it found."""

    terms: tuple[tuple[str, str], ...]
    loanwords: bool = True

    @classmethod
    def parse(cls, text: str) -> Glossary:
        pairs: dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            korean, _, english = line.partition("\t")
            if korean.strip() and english.strip():
                pairs[korean.strip()] = english.strip()
        return cls(tuple(sorted(pairs.items(), key=lambda pair: -len(pair[0]))))

    @classmethod
    def built_in(cls) -> Glossary:
        return cls.parse(resources.files(__package__).joinpath(BUILT_IN).read_text(encoding="utf-8"))

    @classmethod
    def load(cls, path: str | None) -> Glossary:
        """The file at `path`, else the built-in glossary of programming terms."""
        return cls.parse(Path(path).read_text(encoding="utf-8")) if path else cls.built_in()

    def translate(self, question: str) -> str | None:
        """The question with its known terms in English, or None when it has none (nothing to add)."""
        text, changed = question, False
        for korean, english in self.terms:
            if korean in text:
                text, changed = text.replace(korean, f" {english} "), True
        return " ".join(text.split()) if changed else None

    def without(self, korean_terms: set[str]) -> Glossary:
        """The glossary less these terms (`agent rag-eval` measures held-out questions so)."""
        return Glossary(tuple(pair for pair in self.terms if pair[0] not in korean_terms), self.loanwords)

    def terms_in(self, text: str) -> set[str]:
        return {korean for korean, _ in self.terms if korean in text}
