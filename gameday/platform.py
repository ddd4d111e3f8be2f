"""The game day's platform: the distributed mode as separate processes (gateway, two
orchestrators, tool runner, RAG indexer, offline model, and a second offline model as the
secondary endpoint) over a real Kafka and a real Redis, each behind the chaos tier's fault
proxy, and (but in the short run) a real PostgreSQL holding the shared document store and
the usage ledger; a tool upstream that can hang; and Prometheus and Alertmanager watching it.

Everything is entered in one `ExitStack` and left in reverse: `open_platform(...)`."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gameday.alerts import Notifications, webhook_receiver
from gameday.monitoring import Monitoring, Target, monitoring, scraped_services
from gameday.policy import autoscaling_policy
from gameday.upstream import Upstream
from tests.chaos.conftest import chaos_env
from tests.support.fault_proxy import FaultProxy, running_in_thread
from tests.support.platform import Platform, ServiceProcess, distributed_platform, wait_ready
from tests.support.services import (
    KafkaServer,
    RedisServer,
    database_of_its_own,
    start_kafka,
    start_postgres,
    start_redis,
)
from tests.support.web import free_tcp_port, serve_in_thread

__all__ = ["MODEL_KEY", "GameDayPlatform", "open_platform"]

MODEL_KEY = "gameday-model-key"  # the key the provider expects and the platform holds
TOKEN_DELAY_MS = 40  # answers stream for about a second: steady traffic, a few runs a second
TOOL_TIMEOUT_S = 4  # a hanging upstream is a tool timeout this soon


@dataclass
class GameDayPlatform:
    platform: Platform
    monitoring: Monitoring
    notifications: Notifications
    upstream: Upstream
    upstream_url: str
    kafka: KafkaServer
    kafka_proxy: FaultProxy
    redis: RedisServer
    redis_proxy: FaultProxy
    log_dir: Path
    # Extra processes started during the day (a canary), by name, scraped while they run.
    extra: dict[str, tuple[ServiceProcess, Target]] = field(default_factory=dict)
    retired: set[str] = field(default_factory=set)
    extra_urls: dict[str, str] = field(default_factory=dict)  # each extra's HTTP address, for its probes

    def targets(self) -> list[Target]:
        """What Prometheus scrapes now: every platform process not retired, and the extras."""
        scraped = scraped_services()
        own = [
            Target(url.removeprefix("http://"), service_of(name), {"pod": name})
            for name, url in self.platform.metrics.items()
            if name not in self.retired and service_of(name) in scraped
        ]
        return own + [target for _, target in self.extra.values()]

    def publish_targets(self) -> None:
        self.monitoring.set_targets(self.targets())

    def start_extra(
        self, name: str, like: str, settings: dict[str, str], labels: dict[str, str], ready: bool = True
    ) -> ServiceProcess:
        """Another process of the service `like` runs (its settings, with `settings` changed): a canary.
        Waited for until ready, or (`ready=False`, a release that never becomes ready) until alive."""
        model = self.platform.processes[like]
        port, metrics_port = free_tcp_port(), free_tcp_port()
        port_key = next(k for k in model.env if k.endswith("_PORT") and k != "METRICS_PORT" and k.startswith("ORCH"))
        env = {**model.env, port_key: str(port), "METRICS_PORT": str(metrics_port), **settings}
        process = ServiceProcess(name, like_module(like), env, self.log_dir)
        target = Target(f"127.0.0.1:{metrics_port}", service_of(like), {"pod": name, **labels})
        self.extra[name] = (process, target)
        url = self.extra_urls[name] = f"http://127.0.0.1:{port}"
        if ready:
            wait_ready(url, process)
        else:
            wait_alive(url, process)
        self.publish_targets()
        return process

    def stop_extra(self, name: str) -> None:
        # Out of discovery first, as a deleted pod is, then stopped: its end is no `up == 0`.
        process, _ = self.extra.pop(name)
        self.extra_urls.pop(name, None)
        self.publish_targets()
        time.sleep(3 * self.monitoring.scrape_s)
        process.stop()


def _stop_kafka(starting: Future[KafkaServer]) -> None:
    """The broker stopped, once it has started (a failed start has nothing to stop)."""
    if starting.exception() is None:
        starting.result().stop()


def wait_alive(base_url: str, process: ServiceProcess, timeout: float = 90) -> None:
    """Until the process answers `/health` (serving, ready or not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=3).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{base_url} not alive after {timeout:.0f} s")


def service_of(name: str) -> str:
    """`orchestrator-2` -> `orchestrator`: the service a process is a replica of."""
    return re.sub(r"-\d+$", "", name)


def like_module(name: str) -> str:
    return "agent_" + service_of(name).replace("-", "_")


@contextlib.contextmanager
def open_platform(
    workdir: Path, *, time_scale: float, scrape_s: float, indexer: bool = True
) -> Iterator[GameDayPlatform]:
    """`indexer=False` leaves the RAG indexer out, and PostgreSQL with it (the short run: fewer
    processes to start); otherwise the indexer and the orchestrators share a real PostgreSQL
    document store, and the usage ledger is a database beside it."""
    log_dir = workdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # The broker (a JVM, the slowest to start) comes up in a thread while everything that does not
    # need it does: Redis, the monitoring, the secondary model, PostgreSQL.
    with ThreadPoolExecutor(1, thread_name_prefix="gameday-kafka") as pool, contextlib.ExitStack() as stack:
        proxy_port = free_tcp_port()
        kafka_starting = pool.submit(start_kafka, workdir / "kafka", advertised_port=proxy_port)
        stack.callback(_stop_kafka, kafka_starting)
        (workdir / "redis").mkdir(exist_ok=True)
        redis = start_redis(workdir / "redis", appendfsync="everysec")
        stack.callback(redis.stop)
        redis_proxy = stack.enter_context(running_in_thread(FaultProxy("127.0.0.1", redis.port)))
        upstream = Upstream()
        upstream_url = stack.enter_context(serve_in_thread(upstream.app))
        webhook_url, notifications = stack.enter_context(webhook_receiver())
        watching = stack.enter_context(
            monitoring(workdir / "monitoring", webhook_url, time_scale=time_scale, scrape_s=scrape_s)
        )
        secondary_port = free_tcp_port()
        secondary = ServiceProcess(
            "offline-model-secondary",
            "agent_offline_model",
            {"OFFLINE_MODEL_PORT": str(secondary_port), "OFFLINE_MODEL_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS)},
            log_dir,
        )
        stack.callback(secondary.stop)
        env = {
            **chaos_env(upstream_url, log_dir, redis_bound_s=5.0, bus_bound_s=5.0),
            "OFFLINE_MODEL_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS),
            "TOOL_HTTP_TIMEOUT_S": str(TOOL_TIMEOUT_S),
            "ORCHESTRATOR_TOOL_RESULT_TIMEOUT_S": "20",
            # The deployment's cap on runs per replica, as its HorizontalPodAutoscaler's policy assumes
            # (the HPA scenario: a spike fills one replica's slots, and runs queue in Kafka).
            "ORCHESTRATOR_MAX_RUNS": str(autoscaling_policy().max_runs),
            "MODEL_API_KEY": MODEL_KEY,
            "OFFLINE_MODEL_API_KEY": MODEL_KEY,
            "MODEL_SECONDARY_BASE_URL": f"http://127.0.0.1:{secondary_port}/v1",
            "MODEL_SECONDARY_NAME": "offline-1",
            "LOG_LEVEL": "WARNING",
        }
        documents = workdir / "documents" if indexer else None
        store_url = ledger_url = None
        if documents is not None:
            documents.mkdir(exist_ok=True)
            # The whole day runs on the distributed mode's own stores: the shared document store and
            # the usage ledger, each a database on a real PostgreSQL (the short run does without).
            postgres = start_postgres()
            stack.callback(postgres.stop)
            store_url = stack.enter_context(database_of_its_own(postgres.url, prefix="documents"))
            ledger_url = stack.enter_context(database_of_its_own(postgres.url, prefix="usage"))
        wait_ready(f"http://127.0.0.1:{secondary_port}", secondary)
        kafka = kafka_starting.result()
        kafka_proxy = stack.enter_context(
            running_in_thread(FaultProxy("127.0.0.1", kafka.broker_port, port=proxy_port))
        )
        running = stack.enter_context(
            distributed_platform(
                env,
                kafka=kafka_proxy.address,
                redis_url=f"redis://{redis_proxy.address}/0",
                log_dir=log_dir,
                orchestrators=2,
                documents=documents,
                document_store=store_url,
                ledger_url=ledger_url,
            )
        )
        day = GameDayPlatform(
            running, watching, notifications, upstream, upstream_url, kafka, kafka_proxy, redis, redis_proxy, log_dir
        )
        day.publish_targets()
        watching.wait_scraped(len(day.targets()))
        yield day
