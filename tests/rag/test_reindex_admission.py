"""The embedded platform's reindex API (`/api/reindex`, the gateway's) writes what answers
cite: once API keys exist it takes a key with the `reindex` scope, an ordinary chat key
is refused, and `agent reindex` sends $AGENT_API_KEY. The distributed mode's are in
tests/e2e/test_reindex.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.platform import Platform, create_api_key, embedded_platform


@dataclass
class Secured:
    platform: Platform
    chat_key: str
    reindex_key: str
    docs: Path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    docs = tmp_path_factory.mktemp("admission-docs")
    (docs / "note.md").write_text("# Note\n\nThe office opens at nine.\n")
    keys = tmp_path_factory.mktemp("admission-keys") / "api-keys.json"
    chat_key = create_api_key({"AUTH_KEYS_FILE": str(keys)}, "mina")
    reindex_key = create_api_key({"AUTH_KEYS_FILE": str(keys)}, "ops", scopes=["reindex"])
    with embedded_platform({"RAG_INDEXER_ALLOWED_ROOTS": str(docs), "AUTH_KEYS_FILE": str(keys)}) as platform:
        yield Secured(platform, chat_key, reindex_key, docs)


def reindex(platform: Platform, folder: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_API_KEY"}
    if key:
        env["AGENT_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "reindex", str(folder), "--url", platform.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_a_reindex_without_a_key_is_refused(secured: Secured) -> None:
    body = {"source": {"name": "x", "paths": [str(secured.docs)]}}
    refused = httpx.post(f"{secured.platform.base_url}/api/reindex", json=body)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "AUTH_REQUIRED"
    done = reindex(secured.platform, secured.docs, key=None)
    assert done.returncode == 2 and "AUTH_REQUIRED" in done.stderr


def test_a_chat_key_may_chat_but_not_reindex(secured: Secured) -> None:
    done = reindex(secured.platform, secured.docs, secured.chat_key)
    assert done.returncode == 2
    assert "reindex refused (403): PERMISSION_DENIED" in done.stderr


def test_a_reindex_key_runs(secured: Secured) -> None:
    done = reindex(secured.platform, secured.docs, secured.reindex_key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done: 1 documents seen, 1 changed")


def test_the_old_mount_is_gone(secured: Secured) -> None:
    """One door: the reindex API is `/api/reindex` only, not a second copy beside it."""
    headers = {"authorization": f"Bearer {secured.reindex_key}"}
    body = {"source": {"name": "x", "paths": [str(secured.docs)]}}
    assert httpx.post(f"{secured.platform.base_url}/rag/reindex", json=body, headers=headers).status_code == 404


def test_an_unknown_scope_is_refused_by_the_command(tmp_path: Path) -> None:
    """The scope names are a closed set: a typo grants nothing and creates no key."""
    keys = tmp_path / "api-keys.json"
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "keys", "create", "--user", "ops", "--scope", "reindexer"],
        env={**os.environ, "AUTH_KEYS_FILE": str(keys)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "invalid choice: 'reindexer'" in done.stderr
    assert not keys.exists()
