"""`python -m bench.peers` (`make bench-peers`): the platform beside its peers, on one machine.

Every system streams OpenAI chat completions from one shared offline model, through the
same load generator (`bench.load`): the model directly, the floor (a bare pass-through
proxy), the LiteLLM proxy, and the platform's `/v1` in both modes. Each level runs in
rounds, the systems' order rotated round by round so none always goes first (a warm
cache, a busier machine); the figures are medians over the rounds. Results go to
`bench/results/peers.{json,md,png}`.

python -m bench.peers                 # levels 1, 10, 50; 3 rounds; 200 requests per level, 10 a stream at least
python -m bench.peers --quick         # levels 10, 50; 2 rounds; as many requests per level
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import platforms
from bench.load import requests_for, run_level
from bench.peers import report, systems
from bench.stats import summary

LEVELS = (1, 10, 50)
QUICK_LEVELS = (10, 50)
REQUESTS_PER_LEVEL = 200
# The shared model's pace: first token after 200 ms, then one every 20 ms.
FIRST_TOKEN_DELAY_MS = 200
TOKEN_DELAY_MS = 20
IDLE_S = 10.0
LOAD_GENERATOR = "load generator"
RESULTS = Path(__file__).resolve().parents[1] / "results"


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: platforms.cpu_seconds(pid) for name, pid in pids.items()}


async def one_round(system: systems.System, level: int, requests: int, model_pid: int) -> dict[str, Any]:
    watched = {**system.pids, "model": model_pid, LOAD_GENERATOR: os.getpid()}
    before = cpu_of(watched)
    measured = await run_level(system.kind, system.url, level, requests, system.headers)
    after = cpu_of(watched)
    ok = [s for s in measured.streams if s.ok]
    spent = {name: after[name] - before[name] for name in watched}
    errors: dict[str, int] = {}
    for s in measured.streams:
        if not s.ok:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        # Steady state: each client's first request is its warm-up (`bench.load`).
        "ttft_ms": summary([s.ttft_s for s in measured.steady if s.ok]),
        "requests_per_s": round(measured.requests_per_s, 2),
        "errors": errors,
        # The system's own processes (its broker and Redis included), per answered request.
        "cpu_ms_per_request": round(sum(spent[name] for name in system.pids) * 1000 / max(1, len(ok)), 2),
        "cpu_ms_per_request_by_process": {
            name: round(seconds * 1000 / max(1, len(ok)), 2) for name, seconds in spent.items()
        },
    }


async def idle_cpu(every: list[systems.System], seconds: float) -> dict[str, dict[str, float]]:
    """Each process's CPU with nothing to do, in ms per second (all systems idle together)."""
    await asyncio.sleep(2)
    before = {s.name: cpu_of(s.pids) for s in every}
    await asyncio.sleep(seconds)
    after = {s.name: cpu_of(s.pids) for s in every}
    return {
        s.name: {name: round((after[s.name][name] - before[s.name][name]) * 1000 / seconds, 1) for name in s.pids}
        for s in every
    }


async def measure(every: list[systems.System], model_pid: int, levels: tuple[int, ...], rounds: int) -> dict[str, Any]:
    for system in every:  # a warm-up: first-call costs (imports, connections) are not counted
        await run_level(system.kind, system.url, 5, 20, system.headers)
    results: dict[str, Any] = {"idle_cpu_ms_per_s": await idle_cpu(every, IDLE_S), "levels": []}
    for level in levels:
        requests = requests_for(level, REQUESTS_PER_LEVEL)
        per_system: dict[str, list[dict[str, Any]]] = {s.name: [] for s in every}
        for round_ in range(rounds):
            order = every[round_ % len(every) :] + every[: round_ % len(every)]
            for system in order:
                per_system[system.name].append(await one_round(system, level, requests, model_pid))
            print(f"peers: {level} streams, round {round_ + 1}/{rounds} done", flush=True)
        results["levels"].append({"concurrency": level, "requests": requests, **aggregate(per_system)})
    return results


def aggregate(per_system: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the rounds; what a system adds to the first token, against the model direct in
    the same round."""
    direct = per_system["direct"]
    systems_out: dict[str, Any] = {}
    for name, rounds in per_system.items():
        added = {
            q: round(
                statistics.median(r["ttft_ms"][q] - d["ttft_ms"][q] for r, d in zip(rounds, direct, strict=True)), 1
            )
            for q in ("p50", "p95")
        }
        systems_out[name] = {
            "added_ttft_ms": added,
            "ttft_ms": {q: round(statistics.median(r["ttft_ms"][q] for r in rounds), 1) for q in ("p50", "p95")},
            "requests_per_s": round(statistics.median(r["requests_per_s"] for r in rounds), 2),
            "cpu_ms_per_request": round(statistics.median(r["cpu_ms_per_request"] for r in rounds), 2),
            "errors": sum(sum(r["errors"].values()) for r in rounds),
            "rounds": rounds,
        }
    return {"systems": systems_out}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.peers", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="levels 10 and 50, 2 rounds")
    parser.add_argument("--levels", default=None, help="comma-separated concurrency levels")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per level (default 3; quick 2)")
    args = parser.parse_args()
    levels = tuple(int(v) for v in args.levels.split(",")) if args.levels else (QUICK_LEVELS if args.quick else LEVELS)
    rounds = args.rounds or (2 if args.quick else 3)
    platforms.COMMON_ENV["OFFLINE_MODEL_FIRST_TOKEN_DELAY_MS"] = str(FIRST_TOKEN_DELAY_MS)
    platforms.COMMON_ENV["OFFLINE_MODEL_TOKEN_DELAY_MS"] = str(TOKEN_DELAY_MS)
    version = systems.install_litellm()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        distributed, model_v1, model_pid = stack.enter_context(systems.distributed(work))
        every = [
            systems.direct(model_v1),
            stack.enter_context(systems.floor(model_v1, work)),
            stack.enter_context(systems.litellm(model_v1, work)),
            stack.enter_context(systems.embedded(model_v1, work)),
            distributed,
        ]
        print(f"peers: measuring {', '.join(s.name for s in every)} (LiteLLM {version})", flush=True)
        measured = asyncio.run(measure(every, model_pid, levels, rounds))
    result = {
        "machine": {"cores": os.cpu_count(), "python": host.python_version(), "platform": host.platform()},
        "model_pace": {"first_token_delay_ms": FIRST_TOKEN_DELAY_MS, "token_delay_ms": TOKEN_DELAY_MS},
        "litellm_version": version,
        "rounds": rounds,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **measured,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "peers.json").write_text(json.dumps(result, indent=2))
    table = report.markdown(result)
    (RESULTS / "peers.md").write_text(table)
    report.chart(result, RESULTS / "peers.png")
    print("\n" + table)
    print(f"written: {RESULTS / 'peers.json'}, peers.md, peers.png")


if __name__ == "__main__":
    main()
