"""`python -m bench` (`make bench`): run every measurement, write `bench/results/` and print a table.

python -m bench                       # both modes, the whole concurrency curve
python -m bench --quick               # a short run: levels 10 and 50 only, as many requests each
python -m bench --modes embedded      # one mode
python -m bench --modes "" --rag-pages 8   # the RAG figures only (indexing, retrieval)
python -m bench --modes distributed-1,distributed --levels 50,100 --max-runs 20
                                      # replicas sized to 20 runs each: what a second one adds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

from bench import platforms
from bench.load import Level, hold_idle_streams, requests_for, run_level
from bench.rag import measure_rag
from bench.report import print_table, write_chart
from bench.stats import summary

LEVELS = (1, 10, 50, 100, 200)
QUICK_LEVELS = (10, 50)
REQUESTS_PER_LEVEL = 200  # at least, per level and series (`bench.load.requests_for`)
LOAD_GENERATOR = "load generator"  # this process: it shares the machine's cores with what it measures
RESULTS = Path(__file__).resolve().parent / "results"


def describe(level: Level) -> dict[str, Any]:
    """Figures of the level's steady state (each client's first request is its warm-up, `bench.load`);
    errors and the request count of every request."""
    ok = [s for s in level.steady if s.ok]
    errors: dict[str, int] = {}
    for s in level.streams:
        if not s.ok:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "requests": len(level.streams),
        "errors": errors,
        "ttft_ms": summary([s.ttft_s for s in ok]),
        "gap_ms": summary([g for s in ok for g in s.gaps_s]),
        # Coalesced tokens make fewer, wider-spaced frames: the gap alone would not say
        # whether the answer as a whole came later, the first-to-last-token time does.
        "answer_ms": summary([s.total_s - s.ttft_s for s in ok]),
        "frames_per_answer": round(sum(len(s.gaps_s) + 1 for s in ok) / len(ok), 1) if ok else 0.0,
        "requests_per_s": round(level.requests_per_s, 2),
    }


def overhead(pipeline: dict[str, Any], baseline: dict[str, Any], metric: str) -> dict[str, float]:
    return {q: round(pipeline[metric][q] - baseline[metric][q], 2) for q in ("p50", "p95", "p99")}


def _sample(pids: dict[str, int], measure: Callable[[int], float]) -> dict[str, float]:
    return {name: measure(pid) for name, pid in pids.items()}


async def curve(running: platforms.Running, levels: tuple[int, ...], per_level: int) -> list[dict[str, Any]]:
    points = []
    for level in levels:
        requests = requests_for(level, per_level)
        pids = {**running.pids, LOAD_GENERATOR: os.getpid()}
        cpu_before, wait_before = _sample(pids, platforms.cpu_seconds), _sample(pids, platforms.cpu_wait_seconds)
        machine_before = platforms.machine_busy()
        measured = await run_level("platform", running.base_url, level, requests, running.headers)
        wall = measured.wall_s
        machine_after = platforms.machine_busy()
        cpu_after, wait_after = _sample(pids, platforms.cpu_seconds), _sample(pids, platforms.cpu_wait_seconds)
        base = await run_level("baseline", running.model_url, level, requests, {})
        # The OpenAI-compatible API: the same runs through `/v1/chat/completions`, after the CPU samples.
        openai = describe(await run_level("openai", running.base_url, level, requests, running.headers))
        pipeline, baseline = describe(measured), describe(base)
        ok = max(1, requests - sum(pipeline["errors"].values()))
        points.append(
            {
                "concurrency": level,
                "pipeline": pipeline,
                "baseline": baseline,
                "ttft_overhead_ms": overhead(pipeline, baseline, "ttft_ms"),
                "gap_overhead_ms": overhead(pipeline, baseline, "gap_ms"),
                "answer_overhead_ms": overhead(pipeline, baseline, "answer_ms"),
                "openai": openai,
                "openai_overhead_ms": {
                    metric: overhead(openai, baseline, f"{metric}_ms") for metric in ("ttft", "gap", "answer")
                },
                "cpu_ms_per_request": {
                    name: round((cpu_after[name] - cpu_before[name]) * 1000 / ok, 2) for name in pids
                },
                # Cores each process kept busy: one near 1.0 is a bottleneck a replica more would relieve.
                "cores_busy": {name: round((cpu_after[name] - cpu_before[name]) / wall, 2) for name in pids},
                # Time spent ready to run but without a core, per second: the machine's contention, per process.
                "cpu_wait_ms_per_s": {
                    name: round((wait_after[name] - wait_before[name]) * 1000 / wall, 1) for name in pids
                },
                # Every core's busy share while the level ran, whoever used it (the machine is shared).
                "machine_busy": round(
                    (machine_after[0] - machine_before[0]) / max(1, machine_after[1] - machine_before[1]), 3
                ),
            }
        )
        print(f"  {running.mode}: {level} concurrent streams done", flush=True)
    return points


async def idle_streams(running: platforms.Running, count: int) -> dict[str, Any]:
    gateway = running.pids.get("gateway", running.pids.get("platform", 0))
    async with httpx.AsyncClient() as admin:
        await admin.post(running.admin_url, json={"kind": "stall", "count": count + 50, "delay_ms": 300_000})
    before = platforms.rss_bytes(gateway)
    opened, tasks, client = await hold_idle_streams(running.base_url, count, running.headers)
    await asyncio.sleep(2)  # let every stream settle into waiting
    after = platforms.rss_bytes(gateway)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    async with httpx.AsyncClient() as admin:
        await admin.delete(running.admin_url)
    return {
        "requested": count,
        "held": opened,
        "gateway_rss_before_mb": round(before / 2**20, 1),
        "gateway_rss_after_mb": round(after / 2**20, 1),
        "kb_per_stream": round((after - before) / 1024 / max(1, opened), 1),
    }


async def measure(running: platforms.Running, levels: tuple[int, ...], per_level: int, idle: int) -> dict[str, Any]:
    # A warm-up, so first-call costs (imports, connections, JIT-less caches) are not counted.
    await run_level("platform", running.base_url, 5, 10, running.headers)
    await run_level("openai", running.base_url, 5, 10, running.headers)
    result: dict[str, Any] = {"mode": running.mode}
    if idle:
        # First: after the levels the heap has grown and the allocator reuses it, so new streams
        # would look almost free (3 KB, 0.1 KB) against what each really holds.
        result["idle_streams"] = await idle_streams(running, idle)
    result["curve"] = await curve(running, levels, per_level)
    return result


def run_mode(mode: str, work: Path, levels: tuple[int, ...], per_level: int, idle: int) -> dict[str, Any]:
    context: AbstractContextManager[platforms.Running]
    if mode == "embedded":
        context = platforms.embedded(work)
    elif mode.startswith("distributed"):
        context = platforms.distributed(work, orchestrators=2 if mode == "distributed" else 1)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    with context as running:
        print(f"{running.mode}: measuring", flush=True)
        return asyncio.run(measure(running, levels, per_level, idle))


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--modes", default="embedded,distributed-1,distributed", help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="levels 10 and 50 only, 200 idle streams")
    parser.add_argument("--idle", type=int, default=None, help="idle SSE streams to hold (default 1000)")
    parser.add_argument(
        "--rag-pages", type=int, default=None, help="doc pages indexed for the RAG figures (default 40; 0: none)"
    )
    parser.add_argument("--levels", default=None, help="comma-separated concurrency levels (default 1,10,50,100,200)")
    parser.add_argument(
        "--max-runs", type=int, default=None, help="ORCHESTRATOR_MAX_RUNS: runs each orchestrator replica holds at once"
    )
    args = parser.parse_args()
    # Steady state needs as many requests in quick mode as in a full run (two short bursts read
    # 2-10 times the steady figures): quick mode is shorter by its levels, not its requests.
    per_level = REQUESTS_PER_LEVEL
    idle = args.idle if args.idle is not None else (200 if args.quick else 1000)
    default_levels = QUICK_LEVELS if args.quick else LEVELS
    levels = tuple(int(level) for level in args.levels.split(",")) if args.levels else default_levels
    if args.max_runs is not None:
        platforms.COMMON_ENV["ORCHESTRATOR_MAX_RUNS"] = str(args.max_runs)
    report: dict[str, Any] = {
        "machine": {
            "cores": os.cpu_count(),
            "python": host.python_version(),
            "platform": host.platform(),
        },
        "offline_model_pace": {
            "first_token_delay_ms": platforms.FIRST_TOKEN_DELAY_MS,
            "token_delay_ms": platforms.TOKEN_DELAY_MS,
        },
        "orchestrator_max_runs": args.max_runs or "default",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for mode in filter(None, args.modes.split(",")):
            # Idle streams are held last, and only where the gateway is its own process.
            report["results"].append(
                run_mode(mode.strip(), Path(tmp), levels, per_level, idle if mode.strip() != "distributed-1" else 0)
            )
    rag_pages = args.rag_pages if args.rag_pages is not None else (8 if args.quick else 40)
    if rag_pages:
        print(f"rag: indexing {rag_pages} pages", flush=True)
        report["rag"] = asyncio.run(measure_rag(rag_pages))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2))
    write_chart(report, RESULTS / "bench.png")
    print_table(report)
    print(f"\nwritten: {RESULTS / 'bench.json'}, {RESULTS / 'bench.png'}")


if __name__ == "__main__":
    main()
