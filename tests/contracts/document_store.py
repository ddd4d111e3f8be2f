"""The vector store's contract (`agent_common.rag.store.base`), one suite for every
implementation (the embedded default's local folder, PostgreSQL with pgvector): a
subclass per implementation provides a fresh, empty `store`, the way FastStream
subclasses `tests/brokers/base/` per broker.

Vectors here are 4-dimensional and hand-made, so each test says which chunk is closest.
"""

from __future__ import annotations

import asyncio
import math

from agent_common.rag.records import ChunkRecord
from agent_common.rag.store import VectorStore

DIMENSIONS = 4
NORTH = [1.0, 0.0, 0.0, 0.0]
EAST = [0.0, 1.0, 0.0, 0.0]
NORTH_EAST = [math.sqrt(0.5), math.sqrt(0.5), 0.0, 0.0]
UP = [0.0, 0.0, 1.0, 0.0]


def chunk(
    doc_id: str,
    index: int = 0,
    *,
    tenant: str = "acme",
    source: str = "handbook",
    text: str = "",
    checksum: str = "sha256:1",
) -> ChunkRecord:
    return ChunkRecord(
        tenant=tenant,
        source=source,
        doc_id=doc_id,
        name=f"docs/{doc_id}.md",
        title=doc_id.title(),
        version="v1",
        last_updated="2026-12-01",
        language="en",
        checksum=checksum,
        chunk_index=index,
        text=text or f"{doc_id} #{index}",
    )


class DocumentStoreContract:
    """Subclasses set `store`: an empty index, opened, closed after the test."""

    store: VectorStore

    async def test_before_the_first_index_there_is_nothing_to_read(self) -> None:
        assert await self.store.live_version() is None
        assert await self.store.search(NORTH, 5, tenant="acme") == []
        assert await self.store.count() == 0
        assert await self.store.documents() == []
        assert await self.store.ping()

    async def test_the_first_write_makes_an_empty_live_version_once(self) -> None:
        live = await self.store.ensure_live()
        assert await self.store.live_version() == live == await self.store.ensure_live()
        assert await self.store.count() == 0

    async def test_search_ranks_by_cosine_similarity_with_the_whole_record(self) -> None:
        live = await self.store.ensure_live()
        records = [chunk("north"), chunk("east"), chunk("north-east")]
        await self.store.upsert(live, records, [NORTH, EAST, NORTH_EAST])
        hits = await self.store.search(NORTH, 2, tenant="acme")
        assert [h.record for h in hits] == [records[0], records[2]]
        assert math.isclose(hits[0].score, 1.0, abs_tol=1e-4)
        assert math.isclose(hits[1].score, math.sqrt(0.5), abs_tol=1e-4)
        assert await self.store.count() == 3

    async def test_an_upsert_replaces_the_whole_document(self) -> None:
        live = await self.store.ensure_live()
        await self.store.upsert(live, [chunk("guide", i) for i in range(3)], [NORTH, EAST, UP])
        await self.store.upsert(live, [chunk("guide", 0, checksum="sha256:2", text="new")], [NORTH])
        assert await self.store.count() == 1
        assert await self.store.document_checksums(live, "acme", "handbook") == {"guide": "sha256:2"}
        assert [h.record.text for h in await self.store.search(UP, 5, tenant="acme")] == ["new"]

    async def test_documents_are_listed_and_deleted_by_tenant_and_source(self) -> None:
        live = await self.store.ensure_live()
        await self.store.upsert(live, [chunk("a"), chunk("b", source="wiki"), chunk("c", tenant="other")], [NORTH] * 3)
        assert await self.store.indexed_documents(live, "acme") == [("handbook", "a"), ("wiki", "b")]
        assert await self.store.indexed_documents(live, "acme", "wiki") == [("wiki", "b")]
        assert await self.store.document_checksums(live, "other", "handbook") == {"c": "sha256:1"}
        await self.store.delete_document(live, "acme", "handbook", "a")
        await self.store.delete_document(live, "acme", "handbook", "c")  # another tenant's: untouched
        assert await self.store.indexed_documents(live, "acme") == [("wiki", "b")]
        assert await self.store.indexed_documents(live, "other") == [("handbook", "c")]

    async def test_the_live_documents_are_listed_with_their_chunk_counts(self) -> None:
        live = await self.store.ensure_live()
        await self.store.upsert(live, [chunk("b", 0), chunk("b", 1), chunk("a")], [NORTH, EAST, UP])
        await self.store.upsert(live, [chunk("z", tenant="other")], [UP])
        listed = await self.store.documents(tenant="acme")
        assert [(d.source, d.doc_id, d.title, d.version, d.updated_at, d.chunks) for d in listed] == [
            ("handbook", "a", "A", "v1", "2026-12-01", 1),
            ("handbook", "b", "B", "v1", "2026-12-01", 2),
        ]
        assert len(await self.store.documents()) == 3

    async def test_a_new_version_is_invisible_until_the_switch_and_the_old_one_goes(self) -> None:
        old = await self.store.ensure_live()
        await self.store.upsert(old, [chunk("kept", source="wiki"), chunk("rebuilt")], [EAST, NORTH])
        new = await self.store.create_version()
        assert new != old and await self.store.live_version() == old
        await self.store.upsert(new, [chunk("rebuilt", text="rebuilt"), chunk("added")], [NORTH, UP])
        assert await self.store.count(new) == 2 and await self.store.count() == 2
        assert [h.record.text for h in await self.store.search(NORTH, 1, tenant="acme")] == ["rebuilt #0"]
        assert await self.store.copy_other_sources("acme", "handbook", old, new) == 1
        await self.store.switch_to(new)
        assert await self.store.live_version() == new
        assert await self.store.count() == 3 and await self.store.count(old) == 0
        assert [h.record.text for h in await self.store.search(NORTH, 1, tenant="acme")] == ["rebuilt"]
        assert await self.store.indexed_documents(new, "acme") == [
            ("handbook", "added"),
            ("handbook", "rebuilt"),
            ("wiki", "kept"),
        ]

    async def test_a_full_rebuild_of_one_tenant_keeps_the_other_tenants_documents(self) -> None:
        old = await self.store.ensure_live()
        await self.store.upsert(old, [chunk("mine"), chunk("theirs", tenant="other")], [NORTH, NORTH])
        new = await self.store.create_version()
        await self.store.copy_other_sources("acme", "handbook", old, new)
        await self.store.switch_to(new)
        assert [h.record.doc_id for h in await self.store.search(NORTH, 5, tenant="other")] == ["theirs"]
        assert await self.store.search(NORTH, 5, tenant="acme") == []

    async def test_an_unfinished_version_is_dropped_and_the_live_one_stays(self) -> None:
        live = await self.store.ensure_live()
        await self.store.upsert(live, [chunk("a")], [NORTH])
        unfinished = await self.store.create_version()
        await self.store.upsert(unfinished, [chunk("b")], [NORTH])
        await self.store.drop(unfinished)
        assert await self.store.live_version() == live
        assert await self.store.count(unfinished) == 0 and await self.store.count() == 1

    async def test_no_passage_crosses_tenants_even_the_closest(self) -> None:
        live = await self.store.ensure_live()
        # The same source and document id in both tenants; the other tenant's chunks are the closest.
        await self.store.upsert(live, [chunk("faq", text="acme's answer")], [NORTH_EAST])
        await self.store.upsert(live, [chunk("faq", tenant="globex", text="globex's secret")], [NORTH])
        await self.store.upsert(live, [chunk(f"more-{i}", tenant="globex") for i in range(20)], [NORTH] * 20)
        acme = await self.store.search(NORTH, 5, tenant="acme")
        assert [h.record.text for h in acme] == ["acme's answer"]
        assert {h.record.tenant for h in await self.store.search(NORTH, 50, tenant="globex")} == {"globex"}
        assert await self.store.search(NORTH, 5, tenant="initech") == []

    async def test_readers_see_the_old_or_the_new_index_whole_during_a_full_rebuild(self) -> None:
        documents = 12
        old = await self.store.ensure_live()
        await self.store.upsert(old, [chunk(f"d{i}", text="old") for i in range(documents)], [NORTH] * documents)
        seen: list[frozenset[str]] = []
        sizes: list[int] = []
        done = asyncio.Event()

        async def read() -> None:
            while not done.is_set():
                hits = await self.store.search(NORTH, 50, tenant="acme")
                seen.append(frozenset(h.record.text for h in hits))
                sizes.append(len(hits))
                await asyncio.sleep(0)

        async def rebuild() -> None:
            new = await self.store.create_version()
            for i in range(documents):  # one document at a time, readers running in between
                await self.store.upsert(new, [chunk(f"d{i}", text="new")], [NORTH])
                await asyncio.sleep(0.005)
            await self.store.switch_to(new)
            await asyncio.sleep(0.05)
            done.set()

        await asyncio.gather(read(), read(), rebuild())
        assert frozenset({"old"}) in seen and frozenset({"new"}) in seen
        assert set(seen) == {frozenset({"old"}), frozenset({"new"})}  # never mixed, never empty
        assert set(sizes) == {documents}
