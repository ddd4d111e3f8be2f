"""The peers report as a reader takes it: ratios of the platform to LiteLLM and to the floor."""

from __future__ import annotations

from typing import Any

from bench.peers.report import COLUMNS, markdown


def _system(p50: float, rps: float = 50.0, cpu: float = 5.0) -> dict[str, Any]:
    return {"added_ttft_ms": {"p50": p50, "p95": p50 * 2}, "requests_per_s": rps, "cpu_ms_per_request": cpu}


def _result(**p50: float) -> dict[str, Any]:
    systems = {name: _system(p50[name.lower()]) for name in COLUMNS} | {"direct": _system(0.0, rps=60.0)}
    return {
        "model_pace": {"first_token_delay_ms": 200, "token_delay_ms": 20},
        "machine": {"cores": 2, "python": "3.11"},
        "litellm_version": "1.0",
        "rounds": 2,
        "levels": [{"concurrency": 1, "systems": systems}],
        "idle_cpu_ms_per_s": {},
    }


def _cells(report: str, label: str) -> list[str]:
    row = next(line for line in report.splitlines() if line.startswith(f"| {label}"))
    return [cell.strip() for cell in row.strip("|").split("|")][1:]


def test_ratios_divide_the_platforms_figures_by_each_peers() -> None:
    cells = _cells(markdown(_result(litellm=20.0, floor=2.0, embedded=4.0, distributed=10.0)), "+TTFT p50")
    assert cells[4:] == ["0.20", "0.50", "2.00", "5.00"]  # ÷ LiteLLM (embedded, distributed), ÷ floor


def test_a_peer_whose_added_latency_is_below_zero_gives_no_ratio() -> None:
    # The floor's median came before the direct run's in that round: a ratio to it would be negative.
    cells = _cells(markdown(_result(litellm=20.0, floor=-9.0, embedded=4.0, distributed=10.0)), "+TTFT p50")
    assert cells[4:] == ["0.20", "0.50", "–", "–"]


def test_a_platform_figure_below_zero_gives_no_ratio_either() -> None:
    cells = _cells(markdown(_result(litellm=20.0, floor=2.0, embedded=-1.0, distributed=0.0)), "+TTFT p50")
    assert cells[4:] == ["–", "0.00", "–", "0.00"]
