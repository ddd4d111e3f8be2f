"""The reindex API in the distributed mode, over real HTTP, Kafka and Redis, every service
its own process: the gateway is its one door (credential, `reindex` scope, allowed roots),
the command travels on `rag.reindex` to the indexer's process, and its statuses come back
on `rag.status` to every gateway replica, so any replica streams them to the end. The
indexer's own port takes no commands. The embedded default's are in
tests/rag/test_reindex_admission.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agent_common.messages import ReindexStatus
from tests.support.platform import Platform, ServiceProcess, bearer, create_api_key, wait_ready
from tests.support.web import free_tcp_port

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture(scope="module")
def reindexer(distributed: Platform, redis_url: str) -> dict[str, str]:
    """A key with the `reindex` scope, made by `agent keys create --scope reindex`."""
    return bearer(create_api_key({"REDIS_URL": redis_url}, "ops", scopes=["reindex"]))


def test_keys_are_listed_with_their_scopes(reindexer: dict[str, str], redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "keys", "list"],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    scopes = {row.split("\t")[2]: row.split("\t")[4] for row in done.stdout.splitlines()}
    assert scopes["ops"] == "reindex" and scopes["e2e-user"] == "-"


def documents(platform: Platform) -> Path:
    assert platform.documents is not None
    return platform.documents


def post(base_url: str, paths: list[str], headers: dict[str, str], **extra: str) -> httpx.Response:
    body = {"source": {"name": "office", "paths": paths}}
    return httpx.post(f"{base_url}/api/reindex", json=body, headers={**headers, **extra}, timeout=30)


def statuses(base_url: str, request_id: str, headers: dict[str, str]) -> list[ReindexStatus]:
    seen: list[ReindexStatus] = []
    with httpx.stream(
        "GET", f"{base_url}/api/reindex/{request_id}/events", headers=headers, timeout=httpx.Timeout(30, read=120)
    ) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data:"):
                seen.append(ReindexStatus.model_validate(json.loads(line[5:])))
    return seen


def latest_state(base_url: str, request_id: str, headers: dict[str, str], want: str) -> str:
    """The command's state once it is `want`; a replica just started may not have read it yet (404)."""
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(f"{base_url}/api/reindex/{request_id}", headers=headers, timeout=30)
        state = response.json()["state"] if response.status_code == 200 else str(response.status_code)
        if state == want:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def test_a_reindex_without_a_key_is_refused_with_401(distributed: Platform) -> None:
    refused = post(distributed.base_url, [str(documents(distributed) / "office")], {})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "AUTH_REQUIRED"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    following = httpx.get(f"{distributed.base_url}/api/reindex/rdx_0123456789ab/events", timeout=10)
    assert following.status_code == 401


def test_an_ordinary_key_is_refused_with_403_in_the_callers_language(distributed: Platform) -> None:
    office = str(documents(distributed) / "office")
    refused = post(distributed.base_url, [office], distributed.headers)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["class"], error["code"], error["details"]) == (
        "user_input",
        "PERMISSION_DENIED",
        {"scope": "reindex"},
    )
    korean = post(distributed.base_url, [office], distributed.headers, **{"accept-language": "ko-KR"})
    assert "권한이 필요합니다" in korean.json()["error"]["message"]
    assert (
        httpx.get(f"{distributed.base_url}/api/reindex/rdx_0123456789ab", headers=distributed.headers).status_code
        == 403
    )
    # The same key still chats: the scope is a privilege on top, not another kind of key.
    chat = httpx.post(
        f"{distributed.base_url}/api/chat", json={"message": "Hello!"}, headers=distributed.headers, timeout=60
    )
    assert chat.status_code == 200
    log = distributed.logs["gateway"].read_text(errors="replace")
    assert '"reason": "missing_scope"' in log or '"reason":"missing_scope"' in log


def test_a_reindex_key_runs_the_command_and_its_statuses_stream_to_done(
    distributed: Platform, reindexer: dict[str, str]
) -> None:
    accepted = post(distributed.base_url, [str(documents(distributed) / "office")], reindexer)
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["request_id"]
    seen = statuses(distributed.base_url, request_id, reindexer)
    # A stream begins at the latest status (a quick command may be over already), then follows in order.
    order = ["accepted", "started", "progress", "done"]
    ranks = [order.index(s.state) for s in seen]
    assert ranks == sorted(ranks) and seen[-1].state == "done"
    final = seen[-1]
    assert final.request_id == request_id and final.user_id == "ops"
    assert (final.counts.total, final.counts.seen, final.counts.failed) == (2, 2, 0)
    assert final.counts.changed + final.counts.unchanged == 2
    assert latest_state(distributed.base_url, request_id, reindexer, "done") == "done"
    # The indexer's own process ran it: the work went over Kafka, not through the gateway.
    indexer_log = distributed.logs["rag-indexer"].read_text(errors="replace")
    assert request_id in indexer_log
    # The gateway put on record who asked for it.
    audit = [
        json.loads(line)
        for line in distributed.logs["gateway"].read_text(errors="replace").splitlines()
        if line.startswith("{") and request_id in line
    ]
    accepted_line = next(line for line in audit if line.get("event") == "reindex accepted")
    assert (accepted_line["user_id"], accepted_line["source"], accepted_line["mode"]) == (
        "ops",
        "office",
        "incremental",
    )


def test_any_gateway_replica_follows_any_command_even_one_started_after_it(
    distributed: Platform, reindexer: dict[str, str], kafka_bootstrap: str, redis_url: str
) -> None:
    first = post(distributed.base_url, [str(documents(distributed) / "office")], reindexer).json()["request_id"]
    latest_state(distributed.base_url, first, reindexer, "done")
    port = free_tcp_port()
    env = {
        "BUS_BACKEND": "kafka",
        "BUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": redis_url,
        "GATEWAY_PORT": str(port),
        "RAG_INDEXER_ALLOWED_ROOTS": str(documents(distributed)),
        "LOG_FORMAT": "json",
    }
    log_dir = distributed.logs["gateway"].parent
    late = ServiceProcess("gateway-late", "agent_gateway", env, log_dir)
    try:
        replica = f"http://127.0.0.1:{port}"
        wait_ready(replica, late)
        # It reads `rag.status` from the start in a group of its own: it knows what ran before it.
        assert latest_state(replica, first, reindexer, "done") == "done"
        # A command accepted by the new replica is streamed to its end by the first one.
        second = post(replica, [str(documents(distributed) / "office")], reindexer).json()["request_id"]
        seen = statuses(distributed.base_url, second, reindexer)
        assert seen[-1].state == "done" and seen[-1].counts.unchanged == 2
    finally:
        late.stop()


def test_the_indexers_port_takes_no_commands(distributed: Platform, reindexer: dict[str, str]) -> None:
    indexer = distributed.services["rag-indexer"]
    body = {"source": {"name": "office", "paths": [str(documents(distributed))]}}
    for path in ("/reindex", "/api/reindex", "/rag/reindex"):
        assert httpx.post(f"{indexer}{path}", json=body, headers=reindexer, timeout=10).status_code == 404, path
    assert httpx.get(f"{indexer}/reindex/rdx_0123456789ab/events", timeout=10).status_code == 404
    assert httpx.get(f"{indexer}/health", timeout=10).status_code == 200
    assert httpx.get(f"{indexer}/metrics", timeout=10).status_code == 404  # its metrics port serves them
    assert "rag_reindex_commands_total" in httpx.get(distributed.metrics_url("rag-indexer"), timeout=10).text


@pytest.mark.parametrize("outside", ["/etc", "/etc/passwd", "{root}/../../etc", "~/.ssh", "relative/docs"])
def test_a_path_outside_the_allowed_roots_is_refused_with_its_code(
    distributed: Platform, reindexer: dict[str, str], outside: str
) -> None:
    root = documents(distributed)
    path = outside.format(root=root)
    refused = post(distributed.base_url, [str(root / "office"), path], reindexer, **{"accept-language": "ko"})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["class"], error["code"], error["details"]) == ("user_input", "RAG_PATH_NOT_ALLOWED", {"path": path})
    assert "밖에 있습니다" in error["message"]


def test_a_link_out_of_the_allowed_roots_is_refused_by_the_indexer(
    distributed: Platform, reindexer: dict[str, str], tmp_path: Path
) -> None:
    """As written the path is inside, so the gateway lets it through; resolved it is not."""
    (tmp_path / "secret.txt").write_text("The vault code is 1234.\n")
    linked = documents(distributed) / "linked"
    linked.mkdir()
    (linked / "fine.md").write_text("# Fine\n\nThis one may be read.\n")
    os.symlink(tmp_path / "secret.txt", linked / "secret.txt")
    accepted = post(distributed.base_url, [str(linked)], reindexer)
    assert accepted.status_code == 202
    final = statuses(distributed.base_url, accepted.json()["request_id"], reindexer)[-1]
    assert final.state == "done" and final.counts.changed == 1
    assert [(f.document, f.error.code.value) for f in final.failures] == [
        (str(linked / "secret.txt"), "RAG_PATH_NOT_ALLOWED")
    ]


def test_a_malformed_command_is_refused_with_the_fields_at_fault(
    distributed: Platform, reindexer: dict[str, str]
) -> None:
    body = {"source": {"paths": "not-a-list"}, "mode": "sometimes"}
    response = httpx.post(f"{distributed.base_url}/api/reindex", json=body, headers=reindexer, timeout=10)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INPUT_INVALID"
    assert {f["field"] for f in error["details"]["fields"]} == {"source.name", "source.paths", "mode"}


def test_an_unknown_command_is_not_found(distributed: Platform, reindexer: dict[str, str]) -> None:
    for path in ("/api/reindex/rdx_0123456789ab", "/api/reindex/not%20an%20id/events"):
        response = httpx.get(f"{distributed.base_url}{path}", headers=reindexer, timeout=30)
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_the_cli_reindexes_through_the_gateway_with_a_key(distributed: Platform, reindexer: dict[str, str]) -> None:
    env = {**os.environ, "AGENT_API_KEY": reindexer["authorization"].removeprefix("Bearer ")}
    office = documents(distributed) / "office"
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "reindex", str(office), "--url", distributed.base_url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["state"] == "done"
    refused = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "reindex", "/etc", "--url", distributed.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert refused.returncode == 2 and "reindex refused (403): RAG_PATH_NOT_ALLOWED" in refused.stderr


def test_documents_are_removed_through_the_gateway_and_the_indexer(
    distributed: Platform, reindexer: dict[str, str]
) -> None:
    """`agent reindex --remove` over Kafka: the indexer takes the document out of its store (an
    incremental reindex of the folder then finds it new again) and leaves the folder's others."""
    env = {**os.environ, "AGENT_API_KEY": reindexer["authorization"].removeprefix("Bearer ")}
    folder = documents(distributed) / "removal"
    folder.mkdir()
    (folder / "keep.md").write_text("# Keep\n\nThis document stays indexed.\n")
    (folder / "drop.md").write_text("# Drop\n\nThis document is removed.\n")

    def cli(*args: str) -> tuple[int, dict[str, object]]:
        command = [sys.executable, "-m", "agent_cli.main", "reindex", *args, "--url", distributed.base_url, "--json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])

    code, indexed = cli(str(folder), "--source", "removal")
    assert code == 0 and indexed["counts"]["changed"] == 2  # type: ignore[index]
    code, removed = cli("--remove", str(folder / "drop.md"))
    assert code == 0 and (removed["mode"], removed["state"]) == ("remove", "done")
    assert removed["counts"]["deleted"] == 1 and removed["failures"] == []  # type: ignore[index]
    code, again = cli(str(folder), "--source", "removal")
    assert code == 0 and (again["counts"]["changed"], again["counts"]["unchanged"]) == (1, 1)  # type: ignore[index]
    # The same scope and roots as any reindex command.
    body = {"source": {"name": "x", "paths": ["/etc/passwd"]}, "mode": "remove"}
    outside = httpx.post(f"{distributed.base_url}/api/reindex", json=body, headers=reindexer, timeout=30)
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "RAG_PATH_NOT_ALLOWED"
    refused = httpx.post(f"{distributed.base_url}/api/reindex", json=body, headers=distributed.headers, timeout=30)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"
