"""A distributed process that needs the shared document store and has none refuses to start,
saying which setting is missing; a deployment without documents says so (`RAG_ENABLED=false`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_common.rag.store import without_credentials
from tests.support.platform import ServiceProcess, wait_ready
from tests.support.web import free_tcp_port

SERVICES = {
    "orchestrator": ("agent_orchestrator", "ORCHESTRATOR_PORT"),
    "rag-indexer": ("agent_rag_indexer", "RAG_INDEXER_PORT"),
}
# Enough for Python to import the service; far less than a start-up that waits on a broker.
AT_ONCE_S = 30


def distributed_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BUS_", "REDIS_", "RAG_", "MODEL_"))}
    # Nothing listens there: a process that got past its checks would hang on the broker, not exit.
    nowhere = f"127.0.0.1:{free_tcp_port()}"
    return {
        **base,
        "BUS_BACKEND": "kafka",
        "BUS_KAFKA_BOOTSTRAP_SERVERS": nowhere,
        "REDIS_URL": f"redis://{nowhere}/0",
        **extra,
    }


def run(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    module, port_setting = SERVICES[service]
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**env, port_setting: str(free_tcp_port()), "METRICS_PORT": str(free_tcp_port())},
        capture_output=True,
        text=True,
        timeout=AT_ONCE_S,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_without_a_store_setting_the_process_exits_at_once_naming_it(service: str) -> None:
    done = run(service, distributed_env())
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{service}: cannot start: RAG_STORE_URL is not set")
    assert "RAG_ENABLED=false" in lines[0]


def test_an_indexer_with_documents_off_refuses_to_run() -> None:
    done = run("rag-indexer", distributed_env(RAG_ENABLED="false"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rag-indexer: cannot start: RAG_ENABLED=false: the rag indexer has no documents to index; do not run it."
    ]


@pytest.mark.kafka
@pytest.mark.redis
def test_an_orchestrator_with_documents_off_starts(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    port = free_tcp_port()
    env = {
        **distributed_env(RAG_ENABLED="false"),
        "BUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": redis_url,
        "ORCHESTRATOR_PORT": str(port),
        "METRICS_PORT": str(free_tcp_port()),
    }
    process = ServiceProcess("orchestrator", "agent_orchestrator", env, tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    finally:
        process.stop()
    assert process.proc.returncode == 0, process.tail()


def test_store_errors_show_its_url_without_credentials() -> None:
    assert (
        without_credentials("https://admin:s3cret@store.internal:6333/base?api-key=k")
        == "https://store.internal:6333/base"
    )
