"""`python -m bench.redis_trace`: what a chat request asks of Redis, in the distributed mode.

Two figures that contention on a shared machine leaves alone: a lone request's
timeline (every Redis command the gateway and the orchestrator send, from Redis's
`MONITOR`, in ms after the client sent the request, up to its first token), and
the commands per request over many (`INFO commandstats`, Lua scripts' own calls
included), with each process's CPU time per request beside them.

python -m bench.redis_trace                      # 3 lone requests traced; 200 requests at 20 streams counted
python -m bench.redis_trace --traced 1 --streams 50 --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from httpx_sse import aconnect_sse

from bench import platforms
from bench.load import QUESTION, run_level


async def _lone_request(base_url: str, headers: dict[str, str]) -> tuple[float, float]:
    """When the request was sent and when its first token came, in seconds since the epoch."""
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        await client.get(f"{base_url}/health")  # the connection made before the clock starts
        sent = time.time()
        async with aconnect_sse(client, "POST", f"{base_url}/api/chat/stream", json={"message": QUESTION}) as source:
            async for event in source.aiter_sse():
                if event.event == "token":
                    return sent, time.time()
    raise RuntimeError("the request ended without a token")


def trace(running: platforms.Running, client: redis.Redis) -> list[str]:
    """One lone request's Redis commands up to its first token, one line each."""
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            for command in monitor.listen():
                seen.append(command)
                if stop.is_set():
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.3)
    sent, first_token = asyncio.run(_lone_request(running.base_url, running.headers))
    time.sleep(0.2)
    stop.set()
    client.ping()  # one more command, so the watcher reads it and stops
    watcher.join(5)
    lines = [f"first token at the client: +{(first_token - sent) * 1000:.1f} ms"]
    for command in seen:
        at = (command["time"] - sent) * 1000
        if command.get("client_type") == "lua" or at < 0 or at > (first_token - sent) * 1000:
            continue
        lines.append(f"{at:8.2f} ms  {command['client_address']}:{command['client_port']}  {command['command'][:100]}")
    return lines


def commands_per_request(running: platforms.Running, client: redis.Redis, streams: int, requests: int) -> str:
    before_cpu = {name: platforms.cpu_seconds(pid) for name, pid in running.pids.items()}
    before: dict[str, Any] = client.info("commandstats")
    results = asyncio.run(run_level("platform", running.base_url, streams, requests, running.headers)).streams
    after: dict[str, Any] = client.info("commandstats")
    after_cpu = {name: platforms.cpu_seconds(pid) for name, pid in running.pids.items()}
    answered = max(1, sum(1 for r in results if r.ok))
    calls = {
        name.removeprefix("cmdstat_"): (stats["calls"] - before.get(name, {"calls": 0})["calls"]) / answered
        for name, stats in after.items()
    }
    rows = [f"{name:24} {per:8.2f}" for name, per in sorted(calls.items(), key=lambda kv: -kv[1]) if per >= 0.005]
    cpu = [f"{name:24} {(after_cpu[name] - before_cpu[name]) * 1000 / answered:8.2f}" for name in running.pids]
    return "\n".join(
        [f"{answered} requests at {streams} streams", "Redis commands per request:", *rows, "CPU ms per request:", *cpu]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.redis_trace", description=__doc__)
    parser.add_argument("--traced", type=int, default=3, help="lone requests traced (default 3)")
    parser.add_argument("--streams", type=int, default=20, help="concurrent streams while counting (default 20)")
    parser.add_argument("--requests", type=int, default=200, help="requests counted (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp, platforms.distributed(Path(tmp), 1) as running:
        if running.redis_url is None:
            raise SystemExit("the distributed platform did not say where its Redis is")
        client = redis.Redis.from_url(running.redis_url)
        asyncio.run(run_level("platform", running.base_url, 5, 20, running.headers))  # warm: connections, imports
        for n in range(args.traced):
            print(f"--- lone request {n + 1}")
            print("\n".join(trace(running, client)))
        print("---")
        print(commands_per_request(running, client, args.streams, args.requests))


if __name__ == "__main__":
    main()
