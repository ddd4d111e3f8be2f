"""The platform under load, in either mode, each service a process of its own
(the load generator must not share a process, or a GIL, with what it measures).

The distributed mode reuses the test suite's launchers: a real Kafka (KRaft, from
Maven Central jars) and a real Redis on free loopback ports, every service a child
process (`tests/support/`). Kafka's and Redis's processes are measured with the
services: their CPU is part of what a request costs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.platform import distributed_platform, wait_ready
from tests.support.services import KafkaServer, start_kafka, start_redis
from tests.support.web import free_tcp_port

# The offline model's pace, stated with every figure: a fast hosted model's feel.
FIRST_TOKEN_DELAY_MS = 100
TOKEN_DELAY_MS = 20  # 50 tokens per second

COMMON_ENV = {
    "OFFLINE_MODEL_FIRST_TOKEN_DELAY_MS": str(FIRST_TOKEN_DELAY_MS),
    "OFFLINE_MODEL_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS),
    "RATE_LIMIT_USER_PER_MINUTE": "1000000",
    "RATE_LIMIT_IP_PER_MINUTE": "1000000",
    "RATE_LIMIT_STREAMS_PER_USER": "100000",
    "GATEWAY_REQUEST_TIMEOUT_S": "300",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",  # as in production: logging on the hot path is part of the cost
}


@dataclass
class Running:
    mode: str
    base_url: str
    model_url: str  # the offline model's `/v1`, for the baseline
    admin_url: str  # its fault admin endpoint
    headers: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    redis_url: str | None = None  # the distributed mode's Redis, for counting its commands


@contextmanager
def embedded_process(work: Path, port: int, settings: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`agent run` on `port`, its keys and stores under `work`, `settings` on top; stopped at exit
    with SIGTERM, so it drains (the usage entries still out are published before the bus stops)."""
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AUTH_KEYS_FILE": str(work / "keys.json"),
        "BUDGETS_FILE": str(work / "budgets.json"),
        "RAG_STORE_PATH": str(work / "rag"),
        "USAGE_LEDGER_PATH": str(work / "usage.sqlite3"),
        **settings,
    }
    log = (work / "embedded.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_cli.main", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=180)
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


@contextmanager
def embedded(work: Path, model_base_url: str | None = None) -> Iterator[Running]:
    """`model_base_url`: a model of its own rather than the built-in offline one (a model shared
    with other systems, as the peers comparison has it)."""
    port = free_tcp_port()
    settings = {**COMMON_ENV, **({"MODEL_BASE_URL": model_base_url} if model_base_url else {})}
    with embedded_process(work, port, settings) as proc:
        base = f"http://127.0.0.1:{port}"
        yield Running(
            "embedded", base, f"{base}/offline/v1", f"{base}/offline/admin/faults", {}, {"platform": proc.pid}
        )


@contextmanager
def distributed(work: Path, orchestrators: int) -> Iterator[Running]:
    kafka = start_kafka(Path(tempfile.mkdtemp(dir=work, prefix="kafka-")))
    redis = start_redis(Path(tempfile.mkdtemp(dir=work, prefix="redis-")))
    try:
        logs = Path(tempfile.mkdtemp(dir=work, prefix="logs-"))
        env = {**COMMON_ENV, "AUTH_KEYS_FILE": str(work / "unused-keys.json")}
        with distributed_platform(
            env, kafka=kafka.bootstrap, redis_url=redis.url, log_dir=logs, orchestrators=orchestrators
        ) as platform:
            model = platform.services["offline-model"]
            infrastructure = {"kafka": kafka_pid(kafka), "redis": redis.proc.pid}
            yield Running(
                f"distributed ({orchestrators} orchestrator{'s' if orchestrators > 1 else ''})",
                platform.base_url,
                f"{model}/v1",
                f"{model}/admin/faults",
                platform.headers,
                {name: process.proc.pid for name, process in platform.processes.items()} | infrastructure,
                redis_url=redis.url,
            )
    finally:
        redis.stop()
        kafka.stop()


def kafka_pid(kafka: KafkaServer) -> int:
    """The broker's JVM (its launcher script writes the pid beside its data)."""
    return int((kafka.data_dir / "broker.pid").read_text())


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every core since boot (`/proc/stat`): whoever used them."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def cpu_wait_seconds(pid: int) -> float:
    """Time the process's threads were ready to run but waited for a core (`/proc/<pid>/task/*/schedstat`):
    what a request loses on a machine that is too busy, at every hop between processes."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile
            continue
    return total / 1e9


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
