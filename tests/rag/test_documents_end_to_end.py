"""`agent reindex <folder>` against the embedded platform (`agent run`), then questions
through the gateway as a client sees it: what the documents cover is answered with
citations over SSE and in the JSON answer; what they do not cover ("Hello!") is the
model's to answer, uncited; and a documents-only tenant (`RAG_DOCUMENTS_ONLY_TENANTS`)
gets the no-match fallback in the user's language instead."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_common.events import parse_run_event
from agent_common.rag.context import FALLBACKS
from tests.e2e.sse import stream_chat
from tests.rag.pdf import pdf_with_pages
from tests.support.platform import Platform, bearer, create_api_key, embedded_platform


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("documents")
    (docs / "handbook.md").write_text(
        "# Team handbook\n\n## Vacation policy\n\nEvery employee gets 25 days of paid vacation per year.\n\n"
        "## 보안 정책\n\n모든 노트북은 디스크 암호화를 켜야 합니다. 비밀번호는 90일마다 바꿉니다.\n"
    )
    (docs / "billing.pdf").write_bytes(pdf_with_pages(["Invoices are due within 30 days."]))
    return docs


@pytest.fixture(scope="module")
def removable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Documents indexed, then removed, beside the others (which stay)."""
    folder = tmp_path_factory.mktemp("removable")
    (folder / "bikes.md").write_text("# Bike parking\n\nBicycles are parked in the basement garage on level -2.\n")
    return folder


@pytest.fixture(scope="module")
def platform(documents: Path, removable: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # A key file of its own, with no key in it: the platform is anonymous, whatever the developer's own.
    keys = tmp_path_factory.mktemp("documents-keys") / "api-keys.json"
    roots = f"{documents},{removable}"
    with embedded_platform({"RAG_INDEXER_ALLOWED_ROOTS": roots, "AUTH_KEYS_FILE": str(keys)}) as served:
        yield served


def reindex(platform: Platform, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENT_API_KEY": key} if key else None
    return subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "reindex", *args, "--url", platform.base_url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def indexed(platform: Platform, documents: Path) -> dict[str, object]:
    done = reindex(platform, str(documents))
    assert done.returncode == 0, done.stderr
    final: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"final": final, "stdout": done.stdout, "stderr": done.stderr}


def test_the_cli_shows_progress_until_done_with_counts(indexed: dict[str, object]) -> None:
    stderr, stdout = str(indexed["stderr"]), str(indexed["stdout"])
    assert "[##############################] 2/2 documents" in stderr
    assert stdout.startswith("done: 2 documents seen, 2 changed, 0 unchanged, 0 deleted, 3 chunks written, 0 failed")


def test_reindexing_again_changes_nothing(platform: Platform, documents: Path, indexed: dict[str, object]) -> None:
    again = reindex(platform, str(documents))
    assert again.returncode == 0
    assert "2 documents seen, 0 changed, 2 unchanged, 0 deleted, 0 chunks written" in again.stdout


def test_failures_are_listed_with_their_reasons_and_the_exit_code_says_so(
    platform: Platform, documents: Path, indexed: dict[str, object]
) -> None:
    result = reindex(platform, str(documents / "missing.md"), "--source", "other")
    assert result.returncode == 1
    assert f"failed: {documents / 'missing.md'}: RAG_SOURCE_UNREADABLE: No such file or folder." in result.stdout


async def test_an_answer_cites_its_passages_over_sse_and_in_the_json(
    platform: Platform, indexed: dict[str, object]
) -> None:
    events = [
        parse_run_event(e.data) for e in await stream_chat(platform.base_url, {"message": "How many vacation days?"})
    ]
    assert events[0].type == "citations" and events[-1].type == "done"
    first = events[0].citations[0]  # type: ignore[union-attr]
    assert (first.marker, first.title, first.heading_path) == (1, "Team handbook", ["Team handbook", "Vacation policy"])
    # Named relative to its allowed root: the server's absolute path is not the client's business.
    assert first.source == "handbook.md" and len(first.version) == 12 and "25 days" in first.snippet
    # `citations` lists every passage put in the prompt, `done` those the answer cites: [1] here.
    assert len(events[0].citations) > 1 and events[-1].citations == events[0].citations[:1]  # type: ignore[union-attr]
    assert events[-1].retrieval.outcome == "covered"  # type: ignore[union-attr]
    answer = await ask(platform, "When are invoices due?")
    assert answer["answer"].startswith("(offline model) According to your documents [1]:")
    cited = answer["citations"][0]
    assert cited["source"] == "billing.pdf" and cited["page"] == 1 and cited["location"].startswith("page 1")


@pytest.mark.parametrize("question", ["Hello!", "안녕하세요", "What is the capital of Peru?"])
async def test_a_question_the_documents_do_not_cover_is_answered_by_the_model_without_citations(
    platform: Platform, indexed: dict[str, object], question: str
) -> None:
    events = [parse_run_event(e.data) for e in await stream_chat(platform.base_url, {"message": question})]
    types = [e.type for e in events]
    assert "citations" not in types and types[-1] == "done"
    done = events[-1]
    assert done.model == "offline-1" and done.citations == []  # type: ignore[union-attr]
    assert done.answer not in FALLBACKS.values() and "[1]" not in done.answer  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def strict(documents: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A platform where the tenant `legal` is answered from the documents alone, and `acme` is not."""
    keys = {"AUTH_KEYS_FILE": str(tmp_path_factory.mktemp("strict-keys") / "api-keys.json")}
    legal = create_api_key(keys, "counsel", tenant="legal", scopes=["reindex"])
    acme = create_api_key(keys, "someone", tenant="acme")
    env = {**keys, "RAG_INDEXER_ALLOWED_ROOTS": str(documents), "RAG_DOCUMENTS_ONLY_TENANTS": "legal"}
    with embedded_platform(env) as served:
        done = reindex(served, str(documents), key=legal)
        assert done.returncode == 0, done.stderr
        yield {"platform": served, "legal": bearer(legal), "acme": bearer(acme)}


@pytest.mark.parametrize(
    ("question", "language"), [("What is the capital of Peru?", "en"), ("페루의 수도는 어디인가요?", "ko")]
)
async def test_a_question_the_documents_do_not_cover_gets_the_fallback_in_its_language_when_documents_only(
    strict: dict[str, Any], question: str, language: str
) -> None:
    url = strict["platform"].base_url
    events = [parse_run_event(e.data) for e in await stream_chat(url, {"message": question}, headers=strict["legal"])]
    assert [e.type for e in events] == ["token", "done"]
    done = events[-1]
    assert done.answer == FALLBACKS[language] and done.citations == [] and done.model == "rag-fallback"  # type: ignore[union-attr]
    summary = done.retrieval  # type: ignore[union-attr]
    assert summary.outcome == "fallback" and 0 < summary.best_score < summary.threshold and not summary.near_miss
    # Another tenant of the same platform is answered by the model.
    other = [parse_run_event(e.data) for e in await stream_chat(url, {"message": question}, headers=strict["acme"])]
    assert other[-1].model == "offline-1" and other[-1].answer != FALLBACKS[language]  # type: ignore[union-attr]


async def test_a_documents_only_tenant_still_gets_cited_answers_to_what_the_documents_cover(
    strict: dict[str, Any],
) -> None:
    answer = await ask(strict["platform"], "How many vacation days?", strict["legal"])
    assert answer["answer"].startswith("(offline model) According to your documents [1]:")
    assert answer["citations"][0]["source"].endswith("handbook.md")


async def test_another_tenants_documents_are_never_cited(strict: dict[str, Any]) -> None:
    """The documents were indexed with legal's key: they are legal's, and acme's questions never see them."""
    answer = await ask(strict["platform"], "How many vacation days?", strict["acme"])
    assert answer["citations"] == [] and "25 days" not in answer["answer"]


async def ask(platform: Platform, question: str, headers: dict[str, str] | None = None) -> Any:
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        response = await client.post(f"{platform.base_url}/api/chat", json={"message": question})
    assert response.status_code == 200
    return response.json()


async def test_a_korean_question_about_a_korean_passage_is_answered_in_korean(
    platform: Platform, indexed: dict[str, object]
) -> None:
    answer = await ask(platform, "노트북 암호화가 필요한가요?")
    assert answer["answer"].startswith("(오프라인 모델) 문서에 따르면 [1]:")
    assert answer["citations"][0]["heading_path"] == ["Team handbook", "보안 정책"]


async def test_a_question_about_a_url_goes_to_the_tool_not_the_documents(
    platform: Platform, indexed: dict[str, object]
) -> None:
    events = [
        parse_run_event(e.data)
        for e in await stream_chat(platform.base_url, {"message": "What does https://example.com/ say?"})
    ]
    types = [e.type for e in events]
    assert "citations" not in types and types[0] == "tool_start" and types[-1] == "done"
    assert events[-1].model == "offline-1" and events[-1].citations == []  # type: ignore[union-attr]


def metric(text: str, name: str, labels: str = "") -> float:
    series = re.escape(f"{name}{{{labels}}}" if labels else name)
    match = re.search(rf"^{series} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_retrieval_and_reindexing_are_counted_in_the_metrics(
    platform: Platform, indexed: dict[str, object], strict: dict[str, Any]
) -> None:
    def count(text: str, outcome: str) -> float:
        return metric(text, "rag_retrievals_total", f'outcome="{outcome}"')

    async def counted(served: Platform, question: str, headers: dict[str, str] | None = None) -> tuple[str, str]:
        async with httpx.AsyncClient(timeout=30) as client:
            before = (await client.get(served.metrics_url())).text
            await ask(served, question, headers)
            return before, (await client.get(served.metrics_url())).text

    before, after = await counted(platform, "What is the capital of Peru?")  # the model answers it
    assert (count(after, "uncovered"), count(after, "fallback")) == (
        count(before, "uncovered") + 1,
        count(before, "fallback"),
    )
    strict_before, strict_after = await counted(strict["platform"], "What is the capital of Peru?", strict["legal"])
    assert (count(strict_after, "uncovered"), count(strict_after, "fallback")) == (
        count(strict_before, "uncovered"),
        count(strict_before, "fallback") + 1,
    )
    assert metric(after, "rag_reindex_commands_total", 'mode="incremental",state="done"') >= 1
    assert metric(after, "rag_chunks_written_total") >= 3


async def test_removed_documents_are_no_longer_cited_and_the_others_still_are(
    platform: Platform, indexed: dict[str, object], removable: Path
) -> None:
    added = reindex(platform, str(removable))
    assert added.returncode == 0, added.stderr
    question = "Where are bicycles parked?"
    cited = await ask(platform, question)
    assert [c["source"] for c in cited["citations"]][:1] == ["bikes.md"]  # relative to its allowed root
    removed = reindex(platform, "--remove", str(removable / "bikes.md"))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("done: 1 documents seen, 0 changed, 0 unchanged, 1 deleted")
    assert "removal from" in removed.stdout and json.loads(removed.stdout.splitlines()[-1])["mode"] == "remove"
    after = await ask(platform, question)
    assert "bikes.md" not in [c["source"] for c in after["citations"]]
    assert after["citations"] == [] and after["model"] == "offline-1"  # nothing else covers it: the model answers
    assert (await ask(platform, "How many vacation days?"))["citations"][0]["source"].endswith("handbook.md")
    # A path nothing was indexed from is a failure of the command, with its reason (exit code 1).
    again = reindex(platform, "--remove", str(removable / "bikes.md"))
    assert again.returncode == 1 and f"failed: {removable / 'bikes.md'}: NOT_FOUND" in again.stdout


def test_a_removal_names_paths_or_a_source(platform: Platform) -> None:
    nothing = reindex(platform, "--remove")
    assert nothing.returncode == 2 and "--source" in nothing.stderr
