"""The indexer's own embedder threads: a setting for its process only, and the same vectors as one thread."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.settings import RagSettings
from agent_rag_indexer.settings import IndexerConfig, IndexerSettings

TEXTS = [
    "Why does Python use indentation for grouping of statements?",
    "파이썬은 왜 들여쓰기로 문장을 묶나요?",
    # Longer than the model's 512-token window: the engine embeds it window by window.
    " ".join(f"Section {n}: how are lists implemented in CPython, and what does appending cost?" for n in range(60)),
    "x",
]

# The engine's thread count is fixed by the first model a process loads: two threads need their own process.
TWO_THREADS = """
import asyncio, json, sys
from agent_common.rag.embeddings import OfflineEmbedder
print(json.dumps(asyncio.run(OfflineEmbedder(2).passages(json.loads(sys.argv[1])))))
"""


def test_the_indexer_setting_sets_the_threads_of_its_process_only() -> None:
    shared = RagSettings(embeddings_threads=1)
    config = IndexerConfig(service=IndexerSettings(embeddings_threads=2), rag=shared)
    assert config.rag.embeddings_threads == 2
    assert shared.embeddings_threads == 1  # what the orchestrator reads is left as it was


def test_unset_the_indexer_follows_the_shared_setting() -> None:
    config = IndexerConfig(service=IndexerSettings(), rag=RagSettings(embeddings_threads=3))
    assert config.rag.embeddings_threads == 3


def test_the_indexer_setting_is_read_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_INDEXER_EMBEDDINGS_THREADS", "2")
    assert IndexerConfig().rag.embeddings_threads == 2


async def test_two_threads_give_the_vectors_of_one(embedder: OfflineEmbedder) -> None:
    one = await embedder.passages(TEXTS)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", TWO_THREADS, json.dumps(TEXTS), stdout=asyncio.subprocess.PIPE, env=env
    )
    stdout, _ = await child.communicate()
    assert child.returncode == 0
    two = json.loads(stdout)
    assert len(two) == len(one)
    for a, b in zip(one, two, strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1e-6
