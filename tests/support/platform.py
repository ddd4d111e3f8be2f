"""The platform under test, in either mode, behind one base URL.

- embedded: the one-process app from `agent run`, served by uvicorn in a thread;
- distributed: every service in its own process, over the real Kafka and Redis (and, for
  documents, the real PostgreSQL the indexer and the orchestrators share).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.web import free_tcp_port, serve_in_thread


@dataclass
class Platform:
    mode: str
    base_url: str
    # Per service process (distributed only): its base URL and its log file.
    services: dict[str, str] = field(default_factory=dict)
    # Per service process: the base URL of its metrics port (the embedded default's is `gateway`).
    metrics: dict[str, str] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    # What a client sends to be let in: an API key of the platform's own, or nothing (anonymous).
    headers: dict[str, str] = field(default_factory=dict)
    # The folder reindex commands may name (RAG_INDEXER_ALLOWED_ROOTS), when the platform runs an indexer.
    documents: Path | None = None

    def metrics_url(self, service: str = "gateway") -> str:
        """Where Prometheus would scrape `service` (never its public port)."""
        return f"{self.metrics[service]}/metrics"

    def log_marks(self) -> dict[str, int]:
        """How long each service's log is now: `log_tails(since=)` then shows what came after."""
        return {name: process.log_size() for name, process in self.processes.items()}

    def log_tails(self, lines: int = 60, since: Mapping[str, int] | None = None) -> str:
        """The end of every service process's log (distributed only), for a failed test's report:
        the processes are gone with pytest's temporary folders by the time anyone reads it. With
        `since` (`log_marks()` as a test began), only what the services logged during the test."""
        marks = since or {}
        return "\n\n".join(
            f"--- {name} ---\n{process.tail(lines, marks.get(name, 0))}" for name, process in self.processes.items()
        )


def scratch_state(folder: Path) -> dict[str, str]:
    """An embedded platform's own state files in `folder`, none of them the checkout's."""
    return {
        "USAGE_LEDGER_PATH": str(folder / "usage.sqlite3"),
        "AUTH_KEYS_FILE": str(folder / "api-keys.json"),
        "BUDGETS_FILE": str(folder / "budgets.json"),
    }


@contextmanager
def embedded_platform(
    env: Mapping[str, str], *, ready: bool = True, documents: Path | None = None
) -> Iterator[Platform]:
    """`ready=False` serves it without waiting for `/ready` (to test a platform that is not).
    With `documents`, reindex commands may name that folder only (RAG_INDEXER_ALLOWED_ROOTS)."""
    from agent_cli.embedded import create_embedded_app
    from agent_cli.prompt_eval.runner import patched_env
    from agent_gateway.settings import GatewayConfig, GatewaySettings

    port = free_tcp_port()
    # Each platform its own vector-store folder: an embedded store is opened by one client only;
    # and its own usage ledger, keys and budgets, never the checkout's `.data/` and `.agent/` (a
    # key made there with `agent keys create` would refuse the tests' anonymous calls). All go
    # when the platform stops.
    with tempfile.TemporaryDirectory(prefix="embedded-platform-", ignore_cleanup_errors=True) as scratch:
        store = Path(scratch) / "rag-store"
        store.mkdir()
        env = {**scratch_state(Path(scratch)), "RAG_STORE_PATH": str(store), **env}
        if documents is not None:
            env["RAG_INDEXER_ALLOWED_ROOTS"] = str(documents)
        # Settings are read from the environment while the app is built, and only then:
        # the environment is restored before the tests run, so it leaks into no other test.
        with patched_env(env):
            app = create_embedded_app(GatewayConfig(gateway=GatewaySettings(host="127.0.0.1", port=port)))
        with serve_in_thread(app, port) as base_url:
            if ready:
                wait_ready(base_url, timeout=5)
            metrics = {"gateway": f"http://127.0.0.1:{app.state.metrics_port}"}
            yield Platform(mode="embedded", base_url=base_url, metrics=metrics, documents=documents)


@contextmanager
def embedded_process(env: Mapping[str, str], log_dir: Path) -> Iterator[Platform]:
    """`agent run` (what `make run` starts) as a process of its own: its `/metrics` is what the
    embedded default exports, and nothing else. An app served in the test process would export
    the series of every module any earlier test imported (the registry is the process's)."""
    port, metrics_port = free_tcp_port(), free_tcp_port()
    settings = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        **scratch_state(log_dir),
        "RAG_STORE_PATH": str(log_dir / "rag-store"),
        **env,
    }
    process = ServiceProcess("embedded", "agent_cli.main", settings, log_dir, args=["run"])
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, process, timeout=120)
        yield Platform(
            mode="embedded",
            base_url=base_url,
            metrics={"gateway": f"http://127.0.0.1:{metrics_port}"},
            processes={"embedded": process},
        )
    finally:
        process.stop()


class ServiceProcess:
    """One service as a child process, its output in a log file."""

    def __init__(self, name: str, module: str, env: Mapping[str, str], log_dir: Path, args: Sequence[str] = ()) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self._command = [sys.executable, "-m", module, *args]
        self._env = {**os.environ, **env}
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._terminated = False
        return subprocess.Popen(self._command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT)

    def terminate(self) -> None:
        """SIGTERM, once: the service drains and leaves its consumer groups. A second SIGTERM is an
        operator's "stop now" (`asgi_server`): it skips the drain, and the members stay in their
        groups until their session times out, which a replica of the same name then waits out."""
        if self.proc.poll() is None and not self._terminated:
            self.proc.terminate()
            self._terminated = True

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no goodbye; what a crashed pod does."""
        self.proc.kill()
        self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: alive, connections open, nothing done until `resume()` (a stalled host)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    @property
    def env(self) -> Mapping[str, str]:
        """The settings it runs with: its whole environment."""
        return self._env

    def respawn(self, settings: Mapping[str, str] | None = None) -> None:
        """Start the service again, its output appended to the same log: with the same settings,
        or with `settings` changed from now on (a rotated Secret, a new release)."""
        if self.proc.poll() is None:
            self.kill()
        if settings:
            self._env = {**self._env, **settings}
        self.proc = self._spawn()

    def tail(self, lines: int = 40, since: int = 0) -> str:
        """The last `lines` lines of its log, of those written after byte `since`."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            written = log.read().decode(errors="replace")
        return "\n".join(written.splitlines()[-lines:])

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextmanager
def distributed_platform(
    env: Mapping[str, str],
    *,
    kafka: str,
    redis_url: str,
    log_dir: Path,
    orchestrators: int = 2,
    gateways: int = 1,
    user: str = "e2e-user",
    documents: Path | None = None,
    document_store: str | None = None,
    ledger_url: str | None = None,
    scopes: Sequence[str] = (),
    extra_gateways: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[Platform]:
    """The gateway is `gateway` (and `gateway-2`... with `gateways` > 1); clients use a key of `user`
    (with `scopes`). `extra_gateways`: more gateways by name, each with settings of its own over
    `env` (a tighter rate limit, say); they list no documents unless those settings name a store.
    With `documents`, a `rag-indexer` runs too, and reindex commands may name that folder only.
    With `document_store` (a PostgreSQL URL), the indexer writes there, every orchestrator
    answers from it and every gateway lists it; without, the orchestrators run without
    documents (`RAG_ENABLED=false`). With `ledger_url` (PostgreSQL), the orchestrators store
    the runs' usage entries there; without, the entries wait on `usage.entries`."""
    ports = {name: free_tcp_port() for name in ("model", "gateway", "tool-runner")}
    roots = {"RAG_INDEXER_ALLOWED_ROOTS": str(documents)} if documents is not None else {}
    common = {
        **roots,
        **env,
        "BUS_BACKEND": "kafka",
        "BUS_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "REDIS_URL": redis_url,
        "MODEL_BASE_URL": f"http://127.0.0.1:{ports['model']}/v1",
        "LOG_LEVEL": "INFO",
    }
    # The gateways list the shared store's documents (`/api/documents`) when there is one.
    listing = {"RAG_STORE_URL": document_store} if document_store else {}
    specs: list[tuple[str, str, dict[str, str]]] = [
        ("offline-model", "agent_offline_model", {"OFFLINE_MODEL_PORT": str(ports["model"])}),
        ("tool-runner", "agent_tool_runner", {"TOOL_RUNNER_PORT": str(ports["tool-runner"])}),
        ("gateway", "agent_gateway", {"GATEWAY_PORT": str(ports["gateway"]), **listing}),
    ]
    specs += [
        (f"gateway-{i + 2}", "agent_gateway", {"GATEWAY_PORT": str(free_tcp_port()), **listing})
        for i in range(gateways - 1)
    ]
    specs += [
        (name, "agent_gateway", {"GATEWAY_PORT": str(free_tcp_port()), **own})
        for name, own in (extra_gateways or {}).items()
    ]
    # The shared store, or none: the orchestrators then answer without documents, said explicitly.
    reading = {"RAG_STORE_URL": document_store} if document_store else {"RAG_ENABLED": "false"}
    if ledger_url is not None:
        reading["USAGE_LEDGER_URL"] = ledger_url
    specs += [
        (f"orchestrator-{i + 1}", "agent_orchestrator", {"ORCHESTRATOR_PORT": str(free_tcp_port()), **reading})
        for i in range(orchestrators)
    ]
    if documents is not None:
        # Without a shared store, its own embedded one, named on purpose (a lone indexer may keep one).
        writing = (
            {"RAG_STORE_URL": document_store} if document_store else {"RAG_STORE_PATH": str(log_dir / "rag-store")}
        )
        specs.append(("rag-indexer", "agent_rag_indexer", {"RAG_INDEXER_PORT": str(free_tcp_port()), **writing}))
    with ExitStack() as stack:
        platform = Platform(
            mode="distributed",
            base_url=f"http://127.0.0.1:{ports['gateway']}",
            headers=bearer(create_api_key({"REDIS_URL": redis_url}, user, scopes=scopes)),
            documents=documents,
        )
        processes: list[ServiceProcess] = []
        stack.callback(stop_together, processes)
        for name, module, own in specs:
            metrics_port = str(free_tcp_port())
            # Each replica's own name in its consumer groups, as a pod's name is (kafka_rejoin.py).
            named = {"METRICS_PORT": metrics_port, "BUS_KAFKA_MEMBER_NAME": name}
            process = ServiceProcess(name, module, {**common, **own, **named}, log_dir)
            processes.append(process)
            port = next(v for k, v in own.items() if k.endswith("_PORT"))
            platform.services[name] = f"http://127.0.0.1:{port}"
            platform.metrics[name] = f"http://127.0.0.1:{metrics_port}"
            platform.logs[name] = process.log_path
            platform.processes[name] = process
        for process in processes:
            try:
                wait_ready(platform.services[process.name], process)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n--- {process.name} log ---\n{process.tail()}") from None
        yield platform


def stop_together(processes: Sequence[ServiceProcess], timeout: float = 20) -> None:
    """SIGTERM every service at once, then wait for them all: each drains (connections, consumer
    groups) at the same time as the others, not one after another."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.stop(max(deadline - time.monotonic(), 0.1))


def create_api_key(env: Mapping[str, str], user: str, tenant: str = "default", scopes: Sequence[str] = ()) -> str:
    """A key made the way an operator makes one: `agent keys create`, in its own process."""
    scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "keys", "create", "--user", user, "--tenant", tenant, *scope_args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def wait_ready(base_url: str, process: ServiceProcess | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}")
        try:
            response = httpx.get(f"{base_url}/ready", timeout=3)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{base_url} not ready after {timeout}s: {last}")
