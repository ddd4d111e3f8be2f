"""`python -m bench.sizing`: what one unit of each service's work costs, for sizing (docs/sizing.md).

Per unit, medians of `--repeat` runs (3), each on a platform started afresh, each service a
process of its own over a real Kafka and Redis (one orchestrator):

- idle: CPU (millicores) and resident memory of every process with nothing to do;
- a chat run (`--streams` at a time): CPU ms per request of every process, and the memory
  the gateway and the orchestrator hold per request in flight (peak RSS under load minus idle);
- a tool call (a question with one URL: one `http_get` to a page served here): the tool
  runner's CPU ms and memory per call;
- an open stream (`--open` streams held on a stalled model): the gateway's memory per stream
  and its CPU per stream and second;
- an indexed chunk: the offline embedder on one thread (`bench.indexing`, a fresh process):
  CPU ms per chunk and the indexer's peak memory with the model loaded.

Everything shares the machine's cores (load generator, offline model, Kafka, Redis): CPU
time per unit is what each process used, whoever waited; the figures go to
`bench/results/sizing.json`, which `docs/sizing.md` derives requests, limits and scaling from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench import platforms
from bench.load import hold_idle_streams, run_level
from tests.support.web import free_tcp_port, serve_in_thread

RESULTS = Path(__file__).resolve().parent / "results"
SERVICES = ("gateway", "orchestrator-1", "tool-runner", "offline-model", "kafka", "redis")
MB = 2**20


def _page_app() -> Starlette:
    async def page(_: Any) -> PlainTextResponse:
        return PlainTextResponse("The platform's sizing page: a small text an agent reads. " * 20)

    return Starlette(routes=[Route("/page", page)])


class Sampler:
    """Peak resident memory of some processes, sampled every 100 ms while a block runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self.peak = {name: platforms.rss_bytes(pid) for name, pid in pids.items()}
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            for name, pid in self._pids.items():
                self.peak[name] = max(self.peak[name], platforms.rss_bytes(pid))
            await asyncio.sleep(0.1)

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _cpu_during(
    pids: dict[str, int], work: Callable[[], Awaitable[Any]]
) -> tuple[dict[str, float], dict[str, int], float, Any]:
    """CPU seconds each process used, its peak RSS, the wall time, and what `work` returned."""
    before = {name: platforms.cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    async with Sampler(pids) as sampler:
        result = await work()
    wall = time.perf_counter() - started
    used = {name: platforms.cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    return used, dict(sampler.peak), wall, result


async def one_repetition(
    running: platforms.Running, page_url: str, streams: int, requests: int, held: int
) -> dict[str, Any]:
    pids = {name: running.pids[name] for name in SERVICES}
    result: dict[str, Any] = {}

    await asyncio.sleep(3)  # the previous step's tail
    idle_rss = {name: platforms.rss_bytes(pid) for name, pid in pids.items()}
    used, _, wall, _ = await _cpu_during(pids, lambda: asyncio.sleep(10))
    result["idle"] = {
        name: {"millicores": round(used[name] * 1000 / wall, 1), "rss_mb": round(idle_rss[name] / MB, 1)}
        for name in pids
    }

    async def chat() -> Any:
        return await run_level("platform", running.base_url, streams, requests, running.headers)

    used, peak, _, measured = await _cpu_during(pids, chat)
    done = measured.streams
    ok = max(1, sum(1 for s in done if s.ok))
    result["chat_run"] = {
        "requests": len(done),
        "ok": ok,
        # A run's time at the client, request to last token: CPU per request over it is CPU per
        # second per run in flight (the model's pace sets how long a run holds its share).
        "run_s_median": round(statistics.median([s.total_s for s in done if s.ok] or [0.0]), 3),
        "cpu_ms_per_request": {name: round(used[name] * 1000 / ok, 2) for name in pids},
        # Memory held per request in flight: `streams` runs were in flight through the gateway
        # (one open stream each) and the orchestrator (one run each) for most of the level.
        "kb_per_request_in_flight": {
            name: round(max(0, peak[name] - idle_rss[name]) / 1024 / streams, 1)
            for name in ("gateway", "orchestrator-1")
        },
    }

    async def tools() -> Any:
        question = f"Please read {page_url} and tell me what it says"
        return await run_level("platform", running.base_url, streams, requests // 2, running.headers, question)

    tool_idle = platforms.rss_bytes(pids["tool-runner"])
    used, peak, _, measured = await _cpu_during(pids, tools)
    done = measured.streams
    ok = max(1, sum(1 for s in done if s.ok))
    result["tool_call"] = {
        "requests": len(done),
        "ok": ok,
        "run_s_median": round(statistics.median([s.total_s for s in done if s.ok] or [0.0]), 3),
        "cpu_ms_per_call": {name: round(used[name] * 1000 / ok, 2) for name in pids},
        "tool_runner_kb_per_call_in_flight": round(max(0, peak["tool-runner"] - tool_idle) / 1024 / streams, 1),
    }

    gateway = pids["gateway"]
    async with httpx.AsyncClient() as admin:
        await admin.post(running.admin_url, json={"kind": "stall", "count": held + 50, "delay_ms": 300_000})
    before = platforms.rss_bytes(gateway)
    opened, tasks, client = await hold_idle_streams(running.base_url, held, running.headers)
    await asyncio.sleep(2)
    after = platforms.rss_bytes(gateway)
    cpu_before, started = platforms.cpu_seconds(gateway), time.perf_counter()
    await asyncio.sleep(10)
    cpu = platforms.cpu_seconds(gateway) - cpu_before
    wall = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    async with httpx.AsyncClient() as admin:
        await admin.delete(running.admin_url)
    result["open_stream"] = {
        "held": opened,
        "gateway_kb_per_stream": round((after - before) / 1024 / max(1, opened), 1),
        "gateway_idle_millicores_per_100_streams": round(cpu * 1000 / wall / max(1, opened) * 100, 2),
    }
    return result


def indexed_chunks() -> dict[str, float]:
    """One `bench.indexing` run on one thread in a fresh process: its time per chunk and peak memory."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.indexing", "--one", "batch:1"],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
    )
    out, _ = proc.communicate()
    run = json.loads(out.strip().splitlines()[-1])
    return {
        "chunks": run["chunks"],
        "cpu_ms_per_chunk": round(run["cpu_seconds"] * 1000 / run["chunks"], 1),
        "wall_ms_per_chunk": round(run["seconds"] * 1000 / run["chunks"], 1),
    }


def indexer_peak_mb() -> float:
    """Peak RSS of the indexing children so far (`RUSAGE_CHILDREN`: the largest waited-for child)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def medians(runs: list[Any]) -> Any:
    """The median of every number across runs, keeping the structure."""
    first = runs[0]
    if isinstance(first, dict):
        return {key: medians([run[key] for run in runs]) for key in first}
    if isinstance(first, (int, float)):
        return round(statistics.median(runs), 2)
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--streams", type=int, default=20, help="chat runs in flight at once")
    parser.add_argument("--requests", type=int, default=120, help="chat runs per repetition (half as many tool calls)")
    parser.add_argument("--open", type=int, default=200, help="idle streams held open")
    parser.add_argument("--skip-indexing", action="store_true")
    args = parser.parse_args()

    chunk_runs = []
    if not args.skip_indexing:
        for n in range(args.repeat):
            chunk_runs.append(indexed_chunks())
            print(f"indexing {n + 1}: {chunk_runs[-1]}", flush=True)
    indexer_mb = indexer_peak_mb()

    port = free_tcp_port()
    env_extra = {
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1",
        "TOOL_HTTP_ALLOWED_PORTS": str(port),
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
    }
    platforms.COMMON_ENV.update(env_extra)
    runs = []
    with serve_in_thread(_page_app(), port) as pages:
        for n in range(args.repeat):
            # A fresh platform each time: a process keeps the memory it once used, so the memory
            # per unit is only seen growing from a process's first load.
            with (
                tempfile.TemporaryDirectory(prefix="bench-sizing-") as tmp,
                platforms.distributed(Path(tmp), orchestrators=1) as running,
            ):
                runs.append(
                    asyncio.run(one_repetition(running, f"{pages}/page", args.streams, args.requests, args.open))
                )
            print(f"platform {n + 1}: done", flush=True)
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "machine": {
            "cores": os.cpu_count(),
            "python": host.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "shared": "load generator, offline model, Kafka and Redis on the same cores, and other work",
        },
        "settings": {"streams": args.streams, "requests": args.requests, "open": args.open, "repeat": args.repeat},
        "medians": medians(runs),
        "runs": runs,
        "indexed_chunk": {
            **(medians(chunk_runs) if chunk_runs else {}),
            "runs": chunk_runs,
            "indexer_peak_rss_mb": indexer_mb,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sizing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"medians": result["medians"], "indexed_chunk": result["indexed_chunk"]}, indent=2))


if __name__ == "__main__":
    main()
