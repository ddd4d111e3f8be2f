"""Documents in the distributed mode, every service its own process: the indexer writes the
PostgreSQL store that both orchestrators read, over a Kafka and a Redis of this module's
own (another platform's orchestrators in the same consumer group would take its questions).

A reindex through the gateway is answered with citations by either orchestrator; the
documents are the tenant's whose key indexed them; and a full reindex under a stream of
questions never gives an answer from an empty or a half-built index.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import platform_env
from tests.e2e.test_reindex import statuses
from tests.support.platform import Platform, bearer, create_api_key, distributed_platform
from tests.support.services import (
    KafkaServer,
    RedisServer,
    database_of_its_own,
    kafka_of_its_own,
    redis_of_its_own,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

QUESTION = "Where do visitors park on weekdays?"
LOTS = "ABCDEF"


def write_parking(folder: Path, edition: str) -> None:
    """Six documents that all answer QUESTION, each saying which edition it is."""
    folder.mkdir(exist_ok=True)
    for lot in LOTS:
        (folder / f"parking-{lot}.md").write_text(
            f"# Visitor parking\n\nVisitors park in lot {lot} on weekdays. Parking rules, {edition} edition.\n"
        )


@pytest.fixture(scope="module")
def own_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaServer, RedisServer]]:
    with (
        kafka_of_its_own(tmp_path_factory.mktemp("documents-kafka")) as kafka,
        redis_of_its_own(tmp_path_factory.mktemp("documents-redis")) as redis,
    ):
        yield kafka, redis


@pytest.fixture(scope="module")
def shared(
    own_services: tuple[KafkaServer, RedisServer],
    postgres_url: str,
    pages_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    kafka, redis = own_services
    root = tmp_path_factory.mktemp("shared-documents")
    write_parking(root / "office", "first")
    log_dir: Path = tmp_path_factory.mktemp("documents-logs")
    # A database of this module's own: the contract suite's stores made theirs with vectors of
    # another size in the session's, which a store of the offline embedder's size refuses.
    env = {**platform_env(pages_url, log_dir / "unused-keys.json"), "RAG_COLLECTION": f"e2e{uuid.uuid4().hex[:12]}"}
    with (
        database_of_its_own(postgres_url, "e2e") as store_url,
        distributed_platform(
            env, kafka=kafka.bootstrap, redis_url=redis.url, log_dir=log_dir, documents=root, document_store=store_url
        ) as platform,
    ):
        yield platform


@pytest.fixture(scope="module")
def keys(shared: Platform, own_services: tuple[KafkaServer, RedisServer]) -> dict[str, dict[str, str]]:
    """acme's indexing key and chat key, and globex's chat key (another tenant of the same platform)."""
    env = {"REDIS_URL": own_services[1].url}
    return {
        "acme-ops": bearer(create_api_key(env, "acme-ops", tenant="acme", scopes=["reindex"])),
        "acme": bearer(create_api_key(env, "acme-user", tenant="acme")),
        "globex": bearer(create_api_key(env, "globex-user", tenant="globex")),
    }


def reindex(platform: Platform, headers: dict[str, str], mode: str = "incremental") -> str:
    assert platform.documents is not None
    body = {"source": {"name": "office", "paths": [str(platform.documents / "office")]}, "mode": mode}
    accepted = httpx.post(f"{platform.base_url}/api/reindex", json=body, headers=headers, timeout=30)
    assert accepted.status_code == 202, accepted.text
    request_id: str = accepted.json()["request_id"]
    return request_id


def reindexed(platform: Platform, headers: dict[str, str], mode: str = "incremental") -> None:
    final = statuses(platform.base_url, reindex(platform, headers, mode), headers)[-1]
    assert final.state == "done" and final.counts.failed == 0, final


async def ask(client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    response = await client.post("/api/chat", json={"message": QUESTION}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def indexed(shared: Platform, keys: dict[str, dict[str, str]]) -> Platform:
    reindexed(shared, keys["acme-ops"])
    return shared


async def test_a_reindex_through_the_gateway_is_answered_with_citations_by_either_orchestrator(
    indexed: Platform, keys: dict[str, dict[str, str]]
) -> None:
    answered_by: dict[str, int] = {"orchestrator-1": 0, "orchestrator-2": 0}
    async with httpx.AsyncClient(base_url=indexed.base_url, timeout=60) as client:
        for _ in range(40):  # each question a new session: its partition, hence its orchestrator, at random
            answer = await ask(client, keys["acme"])
            assert answer["citations"], answer
            assert {c["source"] for c in answer["citations"]} <= {f"office/parking-{lot}.md" for lot in LOTS}
            assert "[1]" in answer["answer"]
            for name in answered_by:
                answered_by[name] += answer["request_id"] in indexed.logs[name].read_text()
            if all(answered_by.values()):
                break
    assert all(answered_by.values()), answered_by


async def test_no_passage_reaches_another_tenant(indexed: Platform, keys: dict[str, dict[str, str]]) -> None:
    async with httpx.AsyncClient(base_url=indexed.base_url, timeout=60) as client:
        for tenant in ("globex", "default"):
            headers = keys["globex"] if tenant == "globex" else indexed.headers
            answer = await ask(client, headers)
            assert answer["citations"] == [] and "lot A" not in answer["answer"], (tenant, answer)


async def test_a_full_reindex_under_questions_never_answers_from_an_empty_or_mixed_index(
    indexed: Platform, keys: dict[str, dict[str, str]]
) -> None:
    assert indexed.documents is not None
    editions: list[frozenset[str]] = []
    stop, answered = asyncio.Event(), asyncio.Event()

    async def keep_asking(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            answer = await ask(client, keys["acme"])
            editions.append(frozenset(c["snippet"].rsplit(",", 1)[-1].strip() for c in answer["citations"]))
            answered.set()

    async with httpx.AsyncClient(base_url=indexed.base_url, timeout=60) as client:
        askers = [asyncio.create_task(keep_asking(client)) for _ in range(3)]
        await answered.wait()
        write_parking(indexed.documents / "office", "second")
        await asyncio.to_thread(reindexed, indexed, keys["acme-ops"], "full")
        for _ in range(3):  # a few answers after the switch
            answered.clear()
            await answered.wait()
        stop.set()
        await asyncio.gather(*askers)
    first, second = frozenset({"first edition."}), frozenset({"second edition."})
    assert first in editions and second in editions
    assert set(editions) == {first, second}, editions  # never empty, never both editions in one answer


def test_a_gateway_of_its_own_lists_the_shared_stores_documents_of_the_callers_tenant(
    indexed: Platform, keys: dict[str, dict[str, str]], own_services: tuple[KafkaServer, RedisServer]
) -> None:
    """The chat page's documents panel: the gateway reads the store the indexer wrote."""
    assert indexed.documents is not None
    globex_ops = bearer(create_api_key({"REDIS_URL": own_services[1].url}, "globex-ops", "globex", ["reindex"]))
    listed = httpx.get(f"{indexed.base_url}/api/documents", headers=keys["acme-ops"], timeout=30)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["available"] is True
    # Named as citations name them, under the allowed root: never the server's path.
    assert {(d["source"], d["doc_id"]) for d in body["documents"]} == {
        ("office", f"office/parking-{lot}.md") for lot in LOTS
    }
    assert all(d["title"] == "Visitor parking" and d["chunks"] >= 1 for d in body["documents"])
    other = httpx.get(f"{indexed.base_url}/api/documents", headers=globex_ops, timeout=30)
    assert other.status_code == 200, other.text
    assert other.json() == {"available": True, "documents": []}  # another tenant's documents stay unseen
