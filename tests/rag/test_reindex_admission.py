"""The embedded platform's reindex API writes what answers cite: once API keys exist,
it takes the same credential as the chat API, and `agent reindex` sends $AGENT_API_KEY."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import Platform, create_api_key, embedded_platform


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str, Path]]:
    docs = tmp_path_factory.mktemp("admission-docs")
    (docs / "note.md").write_text("# Note\n\nThe office opens at nine.\n")
    keys = tmp_path_factory.mktemp("admission-keys") / "api-keys.json"
    key = create_api_key({"AUTH_KEYS_FILE": str(keys)}, "ops")
    with embedded_platform({"RAG_INDEXER_ALLOWED_ROOTS": str(docs), "AUTH_KEYS_FILE": str(keys)}) as platform:
        yield platform, key, docs


def reindex(platform: Platform, folder: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_API_KEY"}
    if key:
        env["AGENT_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "reindex", str(folder), "--url", f"{platform.base_url}/rag"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_a_reindex_without_a_key_is_refused(secured: tuple[Platform, str, Path]) -> None:
    platform, _, docs = secured
    refused = httpx.post(f"{platform.base_url}/rag/reindex", json={"source": {"name": "x", "paths": [str(docs)]}})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "AUTH_REQUIRED"
    assert reindex(platform, docs, key=None).returncode != 0


def test_a_reindex_with_a_key_runs(secured: tuple[Platform, str, Path]) -> None:
    platform, key, docs = secured
    done = reindex(platform, docs, key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done: 1 documents seen, 1 changed")
