"""Every service's process (`serve_app`): a busy port ends it at once, SIGTERM stops it in every state."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import scratch_state
from tests.support.web import free_tcp_port

# module, the setting naming its port
SERVICES = {
    "gateway": ("agent_gateway", "GATEWAY_PORT"),
    "orchestrator": ("agent_orchestrator", "ORCHESTRATOR_PORT"),
    "tool-runner": ("agent_tool_runner", "TOOL_RUNNER_PORT"),
    "rag-indexer": ("agent_rag_indexer", "RAG_INDEXER_PORT"),
    "offline-model": ("agent_offline_model", "OFFLINE_MODEL_PORT"),
}
# The services whose start-up waits on a broker (the offline model's has nothing to wait on).
WITH_BROKERS = [service for service in SERVICES if service != "offline-model"]
# Python's start-up and imports, on a loaded two-core machine, plus the bound itself.
PROMPTLY_S = 15
DRAIN_BOUND_S = 25


def spawn(service: str, port: int, tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    module, port_setting = SERVICES[service]
    log = tmp_path / f"{service}.log"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BUS_", "REDIS_", "GATEWAY_", "MODEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        env={
            **base,
            **scratch_state(tmp_path),  # an orchestrator on the in-memory bus writes a ledger: never the checkout's
            port_setting: str(port),
            "RAG_STORE_PATH": str(tmp_path / "rag"),
            "LOG_LEVEL": "INFO",
            **env,
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, log


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {timeout}s later") from None


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A Kafka and Redis address that accepts connections and never answers: start-up hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(server.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in accepted:
        conn.close()


@pytest.mark.parametrize("service", SERVICES)
def test_a_busy_port_ends_the_process_at_once_saying_so(service: str, busy_port: int, tmp_path: Path) -> None:
    proc, log = spawn(service, busy_port, tmp_path)
    code = wait_exit(proc, PROMPTLY_S)
    assert code != 0
    assert "cannot listen on" in log.read_text() and f":{busy_port} (Address already in use)" in log.read_text()
    assert "Waiting for application startup" not in log.read_text()  # nothing was started: no work consumed


@pytest.mark.parametrize("service", SERVICES)
def test_sigterm_while_serving_drains_and_exits_0(service: str, tmp_path: Path) -> None:
    port = free_tcp_port()
    proc, log = spawn(service, port, tmp_path)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert wait_exit(proc, DRAIN_BOUND_S) == 0, log.read_text()
    assert f"{service} stopped" in log.read_text()


@pytest.mark.parametrize("service", WITH_BROKERS)
def test_sigterm_during_start_up_stops_the_process(service: str, silent_broker: str, tmp_path: Path) -> None:
    port = free_tcp_port()
    proc, log = spawn(
        service,
        port,
        tmp_path,
        BUS_BACKEND="kafka",
        BUS_KAFKA_BOOTSTRAP_SERVERS=silent_broker,
        REDIS_URL=f"redis://{silent_broker}/0",
        # No shared document store here: an orchestrator without documents, said explicitly.
        **({"RAG_ENABLED": "false"} if service == "orchestrator" else {}),
    )
    deadline = time.monotonic() + 60
    while "Waiting for application startup" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    time.sleep(1)  # inside the start-up, waiting on the broker
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert wait_exit(proc, PROMPTLY_S) == 0, log.read_text()
    assert "during start-up: stopping" in log.read_text()
