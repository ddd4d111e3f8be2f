"""The rag-indexer as its own processes over a real Kafka: a command posted to one
replica's reindex API travels on `rag.reindex`, is run by one replica, and its
statuses on `rag.status` reach every replica, so another one streams it to the end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_common.messages import ReindexStatus
from tests.support.platform import ServiceProcess, wait_ready
from tests.support.web import free_tcp_port

pytestmark = [pytest.mark.kafka]


@pytest.fixture(scope="module")
def replicas(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], Path]]:
    base = tmp_path_factory.mktemp("indexer-kafka")
    docs = base / "docs"
    docs.mkdir()
    (docs / "parking.md").write_text("# Parking\n\nParking is free for visitors on weekends.\n")
    (docs / "lunch.txt").write_text("Lunch is served from noon to two.\n")
    processes: list[ServiceProcess] = []
    urls: list[str] = []
    try:
        for i in range(2):
            port = free_tcp_port()
            env = {
                "BUS_BACKEND": "kafka",
                "BUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "RAG_INDEXER_PORT": str(port),
                "RAG_INDEXER_ALLOWED_ROOTS": str(docs),
                # A lone process per store: each replica its own embedded folder.
                "RAG_STORE_PATH": str(base / f"store-{i}"),
            }
            processes.append(ServiceProcess(f"rag-indexer-{i}", "agent_rag_indexer", env, base))
            urls.append(f"http://127.0.0.1:{port}")
        for process, url in zip(processes, urls, strict=True):
            wait_ready(url, process)
        yield urls, docs
    finally:
        for process in processes:
            process.stop()


def test_a_command_posted_to_one_replica_is_followed_to_done_on_another(
    replicas: tuple[list[str], Path],
) -> None:
    (first, second), docs = replicas
    posted = httpx.post(f"{first}/reindex", json={"source": {"name": "office", "paths": [str(docs)]}}, timeout=30)
    assert posted.status_code == 202
    request_id = posted.json()["request_id"]
    states: list[ReindexStatus] = []
    with httpx.stream("GET", f"{second}/reindex/{request_id}/events", timeout=httpx.Timeout(30, read=120)) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                states.append(ReindexStatus.model_validate(json.loads(line[5:])))
    final = states[-1]
    assert final.state == "done" and final.request_id == request_id
    assert (final.counts.seen, final.counts.changed, final.counts.chunks_written) == (2, 2, 2)
    # The first replica reads the same statuses on its own consumer group, maybe a moment later.
    deadline = time.monotonic() + 30
    while (latest := httpx.get(f"{first}/reindex/{request_id}", timeout=10).json()["state"]) != "done":
        assert time.monotonic() < deadline, latest
        time.sleep(0.2)


def test_a_malformed_command_is_refused_with_the_fields_at_fault(replicas: tuple[list[str], Path]) -> None:
    (first, _), _ = replicas
    response = httpx.post(f"{first}/reindex", json={"source": {"paths": "not-a-list"}, "mode": "sometimes"}, timeout=10)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INPUT_INVALID"
    assert {f["field"] for f in error["details"]["fields"]} == {"source.name", "source.paths", "mode"}
