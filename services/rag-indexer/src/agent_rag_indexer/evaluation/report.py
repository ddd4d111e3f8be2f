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
    refused: float  # share of off-topic questions whose best passage stays under it
    answered_korean: float | None = None  # share of the Korean wordings whose best passage reaches it


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
        "| threshold | FAQ questions answered | Korean wordings answered | off-topic questions refused |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        korean = f"{r.answered_korean:.3f}" if r.answered_korean is not None else "-"
        lines.append(f"| {r.threshold:.2f} | {r.answered:.3f} | {korean} | {r.refused:.3f} |")
    return "\n".join(lines)


def korean_table(strategy: str, scores: Scores) -> str:
    head = "| queries | strategy | " + " | ".join(f"hit@{k}" for k in KS) + " | MRR | inclusion@5 |"
    rule = "|---|---|" + "---:|" * len(KS) + "---:|---:|"
    row = (
        f"| Korean ({scores.questions}) | `{strategy}` | "
        + " | ".join(f"{scores.hit_at[k]:.3f}" for k in KS)
        + f" | {scores.mrr:.3f} | {scores.inclusion:.3f} |"
    )
    return "\n".join([head, rule, row])


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
    korean: Scores | None = None,
) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    body = f"# RAG evaluation\n\nCorpus and settings: `{json.dumps(config, ensure_ascii=False)}`\n\n{table(results)}\n"
    if korean is not None and results:
        body += f"\n## Korean questions about the English corpus\n\n{korean_table(results[0].strategy, korean)}\n"
    body += f"\n## Score threshold\n\n{threshold_table(thresholds)}\n"
    (out_dir / "rag-eval.md").write_text(body, encoding="utf-8")
    payload = {
        "config": config,
        "results": [{**asdict(r), "chunks_per_s": r.chunks_per_s} for r in results],
        "thresholds": [asdict(t) for t in thresholds],
        "korean": asdict(korean) if korean is not None else None,
    }
    (out_dir / "rag-eval.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    chart(results, out_dir / "rag-eval.png")
    return body
