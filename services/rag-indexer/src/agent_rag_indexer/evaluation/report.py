"""The evaluation's outputs: a Markdown table, a JSON file, and a PNG chart side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from agent_rag_indexer.evaluation.metrics import KS, Scores


@dataclass(frozen=True)
class StrategyResult:
    strategy: str
    chunks: int
    index_s: float
    scores: Scores

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.index_s if self.index_s else 0.0


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    answered: float  # share of FAQ questions whose best passage reaches it
    refused: float  # share of English off-topic questions whose best passage stays under it
    answered_korean: float | None = None  # share of the Korean questions whose best passage reaches it
    refused_korean: float | None = None  # share of Korean off-topic questions whose best passage stays under it


@dataclass(frozen=True)
class LanguageResult:
    """The questions of one language (all of them, or the held-out ones) on the default strategy's index."""

    language: str
    split: str
    scores: Scores
    threshold: float
    false_fallbacks: float  # share whose best passage is under the threshold: "not covered", wrongly
    off_topic: int
    off_topic_refused: float  # share of that language's off-topic questions under the threshold


def table(results: Sequence[StrategyResult]) -> str:
    head = "| strategy | chunks | " + " | ".join(f"hit@{k}" for k in KS) + " | MRR | inclusion@5 | chunks/s |"
    rule = "|---|---:|" + "---:|" * len(KS) + "---:|---:|---:|"
    rows = [
        f"| `{r.strategy}` | {r.chunks} | "
        + " | ".join(f"{r.scores.hit_at[k]:.3f}" for k in KS)
        + f" | {r.scores.mrr:.3f} | {r.scores.inclusion:.3f} | {r.chunks_per_s:.2f} |"
        for r in results
    ]
    return "\n".join([head, rule, *rows])


def threshold_table(rows: Sequence[ThresholdRow]) -> str:
    lines = [
        "| threshold | English answered | Korean answered | English off-topic refused | Korean off-topic refused |",
        "|---:|---:|---:|---:|---:|",
    ]

    def share(value: float | None) -> str:
        return f"{value:.3f}" if value is not None else "-"

    lines += [
        f"| {r.threshold:.3f} | {r.answered:.3f} | {share(r.answered_korean)} | {r.refused:.3f}"
        f" | {share(r.refused_korean)} |"
        for r in rows
    ]
    return "\n".join(lines)


def language_table(rows: Sequence[LanguageResult]) -> str:
    lines = [
        "| questions | split | n | hit@1 | hit@5 | MRR | false fallbacks | threshold | off-topic refused |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.language} | {r.split} | {r.scores.questions} | {r.scores.hit_at[1]:.3f} | {r.scores.hit_at[5]:.3f}"
        f" | {r.scores.mrr:.3f} | {r.false_fallbacks:.3f} | {r.threshold:.3f}"
        f" | {r.off_topic_refused:.3f} of {r.off_topic} |"
        for r in rows
    ]
    return "\n".join(lines)


def chart(results: Sequence[StrategyResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [*(f"hit@{k}" for k in KS), "MRR", "inclusion@5"]
    width = 0.8 / max(len(results), 1)
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    for i, result in enumerate(results):
        values = [*(result.scores.hit_at[k] for k in KS), result.scores.mrr, result.scores.inclusion]
        axes.bar([x + i * width for x in range(len(labels))], values, width, label=result.strategy)
    axes.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(labels))], labels)
    axes.set_ylim(0, 1.0)
    axes.set_ylabel("share of questions")
    questions = results[0].scores.questions if results else 0
    axes.set_title(f"Retrieval on the Python 3.11 FAQ ({questions} questions), per chunking strategy")
    axes.legend(title="chunking", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def write(
    out_dir: Path,
    results: Sequence[StrategyResult],
    thresholds: Sequence[ThresholdRow],
    config: dict[str, object],
    languages: Sequence[LanguageResult] = (),
) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    body = f"# RAG evaluation\n\nCorpus and settings: `{json.dumps(config, ensure_ascii=False)}`\n\n{table(results)}\n"
    if languages and results:
        body += f"\n## Per language (`{results[0].strategy}`)\n\n{language_table(languages)}\n"
    body += f"\n## Score threshold\n\n{threshold_table(thresholds)}\n"
    (out_dir / "rag-eval.md").write_text(body, encoding="utf-8")
    payload = {
        "config": config,
        "results": [{**asdict(r), "chunks_per_s": r.chunks_per_s} for r in results],
        "thresholds": [asdict(t) for t in thresholds],
        "languages": [asdict(r) for r in languages],
    }
    (out_dir / "rag-eval.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    chart(results, out_dir / "rag-eval.png")
    return body
