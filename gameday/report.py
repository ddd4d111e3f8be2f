"""The game day's report: `gameday.json` (everything), `gameday.md` (the table and, per
scenario, what the client and the operator saw), `gameday.png` (error rate and p95 over
time, each fault shaded), and the table printed at the end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gameday.faults import Outcome
from gameday.measures import Baseline, series
from gameday.traffic import Sample

__all__ = ["table", "write_report"]

HEADER = ("scenario", "verdict", "signal", "severity", "detection s", "recovery s", "requests", "affected", "lost")


def _row(outcome: Outcome) -> tuple[str, ...]:
    detection = outcome.detection
    return (
        outcome.name,
        "pass" if outcome.passed else "FAIL",
        detection.signal if detection else "—",
        detection.severity if detection else "—",
        "—" if outcome.detection_s is None else f"{outcome.detection_s:g}",
        "—" if outcome.recovery_s is None else f"{outcome.recovery_s:g}",
        str(outcome.client["requests"]),
        str(outcome.client["affected"]),
        str(outcome.client["lost"]),
    )


def table(outcomes: Sequence[Outcome]) -> str:
    """The Markdown table of verdicts, one row per scenario."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_row(o)) + " |" for o in outcomes]
    return "\n".join(lines)


def _scenario_section(outcome: Outcome) -> list[str]:
    client = outcome.client
    errors = ", ".join(f"`{code}` {n}" for code, n in client["errors_by_code"].items()) or "none"
    lines = [
        f"### {outcome.name}: {'pass' if outcome.passed else 'FAIL'}",
        "",
        f"- fault: {outcome.what}; held {outcome.ended_at - outcome.began_at:.0f} s",
        f"- client: {client['requests']} requests, {client['affected']} affected, errors by code: {errors}; "
        f"fallback shown {client['fallbacks_shown']}, lost {client['lost']}",
    ]
    if outcome.alerts:
        fired = "; ".join(
            f"{a['alert']} ({a['severity']}) fired +{a['fired_after_s']:g} s, notified +{a['notified_after_s']:g} s"
            f" via {a['receiver']}"
            for a in outcome.alerts
        )
        lines.append(f"- operator: {fired}")
    else:
        lines.append("- operator: no alert notified")
    for key, value in outcome.details.items():
        if key not in ("measurements", "queries"):
            lines.append(f"- {key.replace('_', ' ')}: {value}")
    lines += [f"- **{failure}**" for failure in outcome.failures]
    return [*lines, ""]


def write_chart(
    samples: Sequence[Sample], outcomes: Sequence[Outcome], start: float, baseline: Baseline, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    span = max((s.started_at for s in samples), default=start) - start
    step = max(2.0, span / 120)
    points = series(samples, start, step)
    figure, (errors, latency) = plt.subplots(2, 1, figsize=(13, 6.5), sharex=True)
    errors.plot([p[0] for p in points], [p[1] * 100 for p in points], color="tab:red")
    latency.plot([p[0] for p in points], [p[2] for p in points], color="tab:blue")
    errors.axhline(baseline.error_rate_limit * 100, color="grey", linestyle="--", linewidth=1)
    latency.axhline(baseline.p95_limit_s, color="grey", linestyle="--", linewidth=1)
    for axis in (errors, latency):
        for outcome in outcomes:
            axis.axvspan(outcome.began_at - start, outcome.ended_at - start, color="orange", alpha=0.25)
        axis.grid(True, alpha=0.3)
    ymax = errors.get_ylim()[1]
    for outcome in outcomes:
        errors.text(outcome.began_at - start, ymax * 0.95, outcome.name, fontsize=7, rotation=90, va="top")
    errors.set_ylabel("error rate (%)")
    latency.set_ylabel("p95 latency (s)")
    latency.set_xlabel(f"seconds since the traffic began (by request start, {step:.0f} s buckets)")
    figure.suptitle("Game day: client error rate and p95, faults shaded (dashed: the limit of normal)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(
    directory: Path,
    outcomes: Sequence[Outcome],
    samples: Sequence[Sample],
    baseline: Baseline,
    started: float,
    setup: dict[str, Any],
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "gameday.json", "md": directory / "gameday.md", "chart": directory / "gameday.png"}
    report = {
        "setup": setup,
        "baseline": {"error_rate": baseline.error_rate, "p95_s": baseline.p95_s},
        "passed": all(o.passed for o in outcomes),
        "scenarios": [o.as_json() for o in outcomes],
        "samples": [
            {**s.__dict__, "started_at": round(s.started_at - started, 3), "ended_at": round(s.ended_at - started, 3)}
            for s in samples
        ],
    }
    paths["json"].write_text(json.dumps(report, indent=1, default=str))
    scale = setup["time_scale"]
    markdown = [
        "# Game day",
        "",
        f"Verdict: **{'pass' if report['passed'] else 'FAIL'}**. Rules: "
        + ("the project's, unchanged." if scale == 1 else f"every `for:` and range window divided by {scale:g}.")
        + f" Baseline: error rate {baseline.error_rate:.1%}, p95 {baseline.p95_s:.2f} s.",
        "",
        table(outcomes),
        "",
        "Detection: from the fault's start to the alert firing (Prometheus's `startsAt`), or to the policy's"
        " or the analysis's decision. Recovery: from the fault's end to the first stretch of"
        f" {setup['recovery_window_s']:g} s of requests with error rate and p95 back to normal.",
        "",
        "![error rate and p95](gameday.png)",
        "",
        *[line for o in outcomes for line in _scenario_section(o)],
    ]
    paths["md"].write_text("\n".join(markdown))
    write_chart(samples, outcomes, started, baseline, paths["chart"])
    return paths
