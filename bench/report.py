"""The short table and the chart of a benchmark run."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def print_table(report: dict[str, Any]) -> None:
    machine, pace = report["machine"], report["offline_model_pace"]
    print(
        f"\nmachine: {machine['cores']} cores, Python {machine['python']}; offline model: first token after "
        f"{pace['first_token_delay_ms']} ms, then a token every {pace['token_delay_ms']} ms; "
        f"orchestrator max runs: {report.get('orchestrator_max_runs', 'default')}"
    )
    header = (
        f"{'mode':<28}{'conc':>5}{'req/s':>8}{'TTFT p95':>10}{'base p95':>10}{'+TTFT p50':>11}"
        f"{'+TTFT p95':>11}{'+gap p95':>10}{'frames':>8}{'+answer p95':>13}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in report["results"]:
        for point in result["curve"]:
            pipe, base = point["pipeline"], point["baseline"]
            print(
                f"{result['mode']:<28}{point['concurrency']:>5}{pipe['requests_per_s']:>8}"
                f"{pipe['ttft_ms']['p95']:>10}{base['ttft_ms']['p95']:>10}"
                f"{point['ttft_overhead_ms']['p50']:>11}{point['ttft_overhead_ms']['p95']:>11}"
                f"{point['gap_overhead_ms']['p95']:>10}{pipe['frames_per_answer']:>8}"
                f"{point['answer_overhead_ms']['p95']:>13}{sum(pipe['errors'].values()):>8}"
            )
        if "idle_streams" in result:
            idle = result["idle_streams"]
            print(
                f"{result['mode']}: held {idle['held']}/{idle['requested']} idle streams, gateway "
                f"{idle['gateway_rss_before_mb']} -> {idle['gateway_rss_after_mb']} MB "
                f"({idle['kb_per_stream']} KB each)"
            )
        for point in result["curve"]:
            if point["concurrency"] in (10, 50):
                cpu, cores = point["cpu_ms_per_request"], point.get("cores_busy", {})
                print(
                    f"{result['mode']} at {point['concurrency']} streams: CPU ms per request (cores busy) "
                    + ", ".join(f"{k} {v} ({cores.get(k, '-')})" for k, v in cpu.items())
                    + f"; machine {point.get('machine_busy', 0):.0%} busy"
                )
                if waits := point.get("cpu_wait_ms_per_s"):
                    print(
                        f"{result['mode']} at {point['concurrency']} streams: waiting for a core, ms per second: "
                        + ", ".join(f"{k} {v}" for k, v in waits.items())
                    )
    _print_openai_table(report)
    for store, rag in (report.get("rag") or {}).items():
        if "unavailable" in rag:
            print(f"rag ({store}): not measured: {rag['unavailable']}")
            continue
        retrieval = rag["retrieval_ms"]
        print(
            f"rag ({store}): {rag['documents_indexed']} pages, {rag['chunks']} chunks ({rag['chunking']}) indexed in "
            f"{rag['index_seconds']} s: {rag['documents_per_s']} pages/s, {rag['chunks_per_s']} chunks/s; "
            f"retrieval over {rag['questions']} questions p50 {retrieval['p50']} ms, p95 {retrieval['p95']} ms, "
            f"p99 {retrieval['p99']} ms"
        )


def _print_openai_table(report: dict[str, Any]) -> None:
    """The `openai` series: the same runs through `/v1/chat/completions`, against the same baseline."""
    points = [(r["mode"], p) for r in report["results"] for p in r["curve"] if "openai" in p]
    if not points:
        return
    header = (
        f"{'OpenAI-compatible (/v1)':<28}{'conc':>5}{'req/s':>8}{'TTFT p95':>10}{'+TTFT p50':>11}"
        f"{'+TTFT p95':>11}{'+gap p95':>10}{'frames':>8}{'+answer p95':>13}{'errors':>8}"
    )
    print(f"\n{header}")
    print("-" * len(header))
    for mode, point in points:
        openai, extra = point["openai"], point["openai_overhead_ms"]
        print(
            f"{mode:<28}{point['concurrency']:>5}{openai['requests_per_s']:>8}{openai['ttft_ms']['p95']:>10}"
            f"{extra['ttft']['p50']:>11}{extra['ttft']['p95']:>11}{extra['gap']['p95']:>10}"
            f"{openai['frames_per_answer']:>8}{extra['answer']['p95']:>13}{sum(openai['errors'].values()):>8}"
        )


def write_chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ttft, gap, rate) = plt.subplots(1, 3, figsize=(15, 4.5))
    for result in report["results"]:
        levels = [p["concurrency"] for p in result["curve"]]
        ttft.plot(levels, [p["ttft_overhead_ms"]["p95"] for p in result["curve"]], marker="o", label=result["mode"])
        gap.plot(levels, [p["gap_overhead_ms"]["p95"] for p in result["curve"]], marker="o", label=result["mode"])
        rate.plot(levels, [p["pipeline"]["requests_per_s"] for p in result["curve"]], marker="o", label=result["mode"])
        if all("openai" in p for p in result["curve"]):  # the OpenAI-compatible API, dashed beside it
            label = f"{result['mode']} /v1"
            ttft.plot(levels, [p["openai_overhead_ms"]["ttft"]["p95"] for p in result["curve"]], "x--", label=label)
            gap.plot(levels, [p["openai_overhead_ms"]["gap"]["p95"] for p in result["curve"]], "x--", label=label)
            rate.plot(levels, [p["openai"]["requests_per_s"] for p in result["curve"]], "x--", label=label)
    for axis, title in (
        (ttft, "time-to-first-token overhead, p95 (ms)"),
        (gap, "added inter-token delay, p95 (ms)"),
        (rate, "requests per second"),
    ):
        axis.set_title(title)
        axis.set_xlabel("concurrent streams")
        axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
    ttft.axhline(20, color="grey", linestyle="--", linewidth=1)
    gap.axhline(2, color="grey", linestyle="--", linewidth=1)
    ttft.legend(fontsize=8)
    machine = report["machine"]
    figure.suptitle(f"What the pipeline adds ({machine['cores']} cores, Python {machine['python']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
