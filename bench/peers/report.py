"""The peers comparison as people read it: a Markdown table with ratios, and a chart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

COLUMNS = ("LiteLLM", "floor", "embedded", "distributed")
PLATFORM = ("embedded", "distributed")


def markdown(result: dict[str, Any]) -> str:
    pace = result["model_pace"]
    lines = [
        f"Peers on {result['machine']['cores']} cores (Python {result['machine']['python']}), LiteLLM "
        f"{result['litellm_version']}; one offline model shared (first token after {pace['first_token_delay_ms']} ms, "
        f"then one every {pace['token_delay_ms']} ms); medians of {result['rounds']} rounds, systems rotated; "
        "steady state (each client's first request is its warm-up, not counted).",
        "",
        "| | "
        + " | ".join(COLUMNS)
        + " | embedded ÷ LiteLLM | distributed ÷ LiteLLM | embedded ÷ floor | distributed ÷ floor |",
        "|---" * (len(COLUMNS) + 5) + "|",
    ]
    for level in result["levels"]:
        by = level["systems"]
        n = level["concurrency"]
        rows: list[tuple[str, Callable[[dict[str, Any]], float]]] = [
            (f"+TTFT p50, {n} streams (ms)", lambda s: s["added_ttft_ms"]["p50"]),
            (f"+TTFT p95, {n} streams (ms)", lambda s: s["added_ttft_ms"]["p95"]),
            (
                f"steady req/s at {n} streams (direct: {by['direct']['requests_per_s']})",
                lambda s: s["requests_per_s"],
            ),
            (f"CPU ms per request at {n} streams", lambda s: s["cpu_ms_per_request"]),
        ]
        for label, value in rows:
            figures = {name: value(by[name]) for name in COLUMNS}
            ratios = [_ratio(figures[p], figures[peer]) for peer in ("LiteLLM", "floor") for p in PLATFORM]
            lines.append(
                f"| {label} | " + " | ".join(str(figures[c]) for c in COLUMNS) + " | " + " | ".join(ratios) + " |"
            )
    idle = result["idle_cpu_ms_per_s"]
    lines += [
        "",
        "Idle CPU, ms per second: "
        + "; ".join(
            f"{system}: " + ", ".join(f"{proc} {ms}" for proc, ms in processes.items())
            for system, processes in idle.items()
            if processes
        ),
        "",
    ]
    return "\n".join(lines)


def _ratio(ours: float, theirs: float) -> str:
    """A ratio says something only of two figures above zero (ours may be 0: it adds nothing). An
    added latency below zero is a round where that system's median came before the direct run's:
    divided by it, the platform would read as faster the slower it is."""
    return f"{ours / theirs:.2f}" if theirs > 0 and ours >= 0 else "–"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ttft, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    levels = [level["concurrency"] for level in result["levels"]]
    for name in COLUMNS:
        ttft.plot(
            levels, [lv["systems"][name]["added_ttft_ms"]["p50"] for lv in result["levels"]], marker="o", label=name
        )
        cpu.plot(levels, [lv["systems"][name]["cpu_ms_per_request"] for lv in result["levels"]], marker="o", label=name)
    for axis, title in ((ttft, "added time to first token, p50 (ms)"), (cpu, "CPU per request (ms)")):
        axis.set_title(title)
        axis.set_xlabel("concurrent streams")
        axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"The platform beside LiteLLM {result['litellm_version']} and the floor")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
