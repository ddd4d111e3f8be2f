"""Which vector store the settings open (`agent_common.rag.store.choice`), and how its URL,
a secret, is read: a file in the secrets folder like REDIS_URL, never repeated in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_common.rag.required import check_shared_store
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_common.rag.store.local import LocalVectorStore
from agent_common.rag.store.postgres import PostgresVectorStore
from agent_common.settings import BusSettings
from agent_common.transports import ConfigurationError


async def test_without_a_url_the_store_is_the_local_folder(tmp_path: Path) -> None:
    store = open_store(RagSettings(store_path=str(tmp_path / "rag")), 4)
    assert isinstance(store, LocalVectorStore) and store.location == str(tmp_path / "rag")
    await store.close()


def test_the_url_is_read_from_the_secrets_folder_and_names_postgres_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "RAG_STORE_URL").write_text("postgresql://indexer:s3cret@db.internal:5432/documents")
    monkeypatch.setenv("PLATFORM_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("RAG_STORE_URL", raising=False)
    settings = RagSettings()
    assert "s3cret" not in repr(settings)
    store = open_store(settings, 384)
    assert isinstance(store, PostgresVectorStore)
    assert store.location == "postgresql://db.internal:5432/documents"


@pytest.mark.parametrize("url", ["http://admin:s3cret@qdrant:6333", "mysql://u:s3cret@db/x"])
def test_a_url_that_is_not_postgres_stops_the_process_without_repeating_it(url: str) -> None:
    settings = RagSettings(store_url=url)  # type: ignore[arg-type]
    for attempt in (lambda: open_store(settings, 4), lambda: check_shared_store(settings, BusSettings(), "reader")):
        with pytest.raises(ConfigurationError) as refused:
            attempt()
        assert "RAG_STORE_URL must be a PostgreSQL URL" in str(refused.value) and "s3cret" not in str(refused.value)
