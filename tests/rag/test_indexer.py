"""Reindex commands against the real embedder and an embedded Qdrant: what is indexed,
skipped, deleted and refused, and a full reindex that readers never see half-built."""

from __future__ import annotations

from pathlib import Path

from agent_common.errors import ErrorCode
from agent_common.messages import DEFAULT_TENANT as TENANT
from agent_common.messages import InlineDocument, ReindexRequested, ReindexSource, ReindexStatus
from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.store import VectorStore
from agent_rag_indexer.chunking import ChunkingConfig
from agent_rag_indexer.indexer import Indexer
from tests.rag.pdf import pdf_with_pages


def command(paths: list[Path], mode: str = "incremental", name: str = "docs") -> ReindexRequested:
    return ReindexRequested.model_validate(
        {
            "request_id": f"rdx_{mode}",
            "session_id": "s",
            "user_id": "u",
            "mode": mode,
            "source": {"name": name, "paths": [str(p) for p in paths]},
        }
    )


class Statuses:
    def __init__(self) -> None:
        self.seen: list[ReindexStatus] = []

    async def __call__(self, status: ReindexStatus) -> None:
        self.seen.append(status)


def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vacation.md").write_text("# Vacation\n\nEvery employee gets 25 days of paid vacation per year.\n")
    (docs / "security.txt").write_text("모든 노트북은 디스크 암호화를 켜야 합니다.\n\n비밀번호는 90일마다 바꿉니다.\n")
    (docs / "billing.pdf").write_bytes(pdf_with_pages(["Invoices are due within 30 days.", "Refunds take a week."]))
    (docs / "notes.html").write_text("<h1>Office</h1><p>The office opens at 8 am.</p>")
    (docs / "image.png").write_bytes(b"\x89PNG not a document")
    return docs


def indexer(store: VectorStore, embedder: OfflineEmbedder, root: Path) -> Indexer:
    return Indexer(store=store, embedder=embedder, chunking=ChunkingConfig("heading", 400, 50), allowed_roots=[root])


async def test_a_folder_is_indexed_with_progress_and_counts(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    statuses = Statuses()
    final = await indexer(store, embedder, tmp_path).run(command([docs]), statuses)
    assert final.state == "done" and final is statuses.seen[-1]
    assert [s.state for s in statuses.seen] == ["started", "progress", "progress", "progress", "progress", "done"]
    assert final.counts.model_dump() == {
        "total": 4, "seen": 4, "changed": 4, "unchanged": 0, "deleted": 0, "chunks_written": 4, "failed": 0
    }  # fmt: skip
    assert await store.count() == 4


async def test_the_best_passage_of_each_language_is_found_with_its_metadata(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    await indexer(store, embedder, tmp_path).run(command([docs]), Statuses())
    korean = (await store.search(await embedder.query("노트북 암호화 규칙이 뭐예요?"), 1, tenant=TENANT))[0].record
    assert (korean.doc_id, korean.language, korean.title) == (
        str(docs / "security.txt"),
        "ko",
        "모든 노트북은 디스크 암호화를 켜야 합니다.",
    )
    pdf = (await store.search(await embedder.query("When are invoices due?"), 1, tenant=TENANT))[0].record
    assert (pdf.doc_id, pdf.page, pdf.title) == (str(docs / "billing.pdf"), 1, "billing")
    assert pdf.text == "Invoices are due within 30 days.\n\nRefunds take a week."
    markdown = (await store.search(await embedder.query("How many vacation days?"), 1, tenant=TENANT))[0].record
    assert markdown.heading_path == ["Vacation"] and markdown.checksum.startswith("sha256:")
    assert markdown.location() == f"Vacation, chars 0-{markdown.char_end}"


async def test_an_incremental_reindex_skips_unchanged_and_deletes_removed_documents(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, tmp_path)
    await run.run(command([docs]), Statuses())
    (docs / "vacation.md").write_text("# Vacation\n\nEvery employee gets 30 days of paid vacation per year.\n")
    (docs / "notes.html").unlink()
    final = await run.run(command([docs]), Statuses())
    counts = final.counts
    assert (counts.seen, counts.changed, counts.unchanged, counts.deleted) == (3, 1, 2, 1)
    hit = (await store.search(await embedder.query("How many vacation days?"), 1, tenant=TENANT))[0].record
    assert "30 days" in hit.text
    texts = [
        h.record.text for h in await store.search(await embedder.query("When does the office open?"), 10, tenant=TENANT)
    ]
    assert not any("office" in t.lower() for t in texts) and await store.count() == 3


async def test_documents_that_cannot_be_indexed_are_failures_with_reasons(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    (docs / "broken.md").write_bytes(b"\xff\xfe\xfa")
    (docs / "empty.html").write_text("<script>only()</script>")
    outside = Path("/etc/hostname")
    final = await indexer(store, embedder, docs).run(
        command([docs, docs / "missing.txt", docs / "image.png", outside]), Statuses()
    )
    reasons = {Path(f.document).name: (f.error.code, f.error.details.get("reason")) for f in final.failures}
    assert reasons == {
        "missing.txt": (ErrorCode.RAG_SOURCE_UNREADABLE, "missing"),
        "image.png": (ErrorCode.RAG_FORMAT_UNSUPPORTED, None),
        "hostname": (ErrorCode.RAG_PATH_NOT_ALLOWED, None),
        "broken.md": (ErrorCode.RAG_DOCUMENT_INVALID, None),
        "empty.html": (ErrorCode.RAG_DOCUMENT_INVALID, "no_text"),
    }
    assert final.state == "done" and final.counts.failed == 5 and final.counts.changed == 4


async def test_a_link_out_of_the_allowed_roots_is_refused_named_or_found_in_a_folder(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.txt"  # outside the root
    secret.write_text("The vault code is 1234.\n")
    (root / "kept.md").write_text("# Kept\n\nThis one is inside.\n")
    (root / "leak.txt").symlink_to(secret)
    (root / "inside-link.md").symlink_to(root / "kept.md")  # a link that stays inside is fine
    walked = await indexer(store, embedder, root).run(command([root]), Statuses())
    named = await indexer(store, embedder, root).run(command([root / "leak.txt"], name="named"), Statuses())
    for final in (walked, named):
        refused = {f.document: f.error.code for f in final.failures}
        assert refused == {str(root / "leak.txt"): ErrorCode.RAG_PATH_NOT_ALLOWED}
    assert walked.counts.changed == 2 and walked.counts.failed == 1
    texts = [h.record.text for h in await store.search(await embedder.query("vault code"), 10, tenant=TENANT)]
    assert not any("1234" in t for t in texts)


async def test_inline_documents_are_indexed_with_the_metadata_they_come_with(
    store: VectorStore, embedder: OfflineEmbedder
) -> None:
    source = ReindexSource(
        name="inline",
        documents=[
            InlineDocument(
                doc_id="kb-7", text="# Refunds\n\nRefunds take five working days.", format="markdown",
                title="Refund policy", version="v3", last_updated="2026-11-30",
            )
        ],
    )  # fmt: skip
    cmd = ReindexRequested(request_id="r", session_id="s", user_id="u", source=source)
    await Indexer(store=store, embedder=embedder, chunking=ChunkingConfig(), allowed_roots=[]).run(cmd, Statuses())
    record = (await store.search(await embedder.query("refund time"), 1, tenant=TENANT))[0].record
    assert (record.title, record.version, record.last_updated, record.source) == (
        "Refund policy", "v3", "2026-11-30", "inline"
    )  # fmt: skip


async def test_a_full_reindex_is_built_beside_the_live_index_and_switched_when_complete(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, tmp_path)
    await run.run(command([docs]), Statuses())
    old = await store.live_version()
    only = tmp_path / "only"
    only.mkdir()
    (only / "new.md").write_text("# Parking\n\nParking is free for visitors.\n")
    seen_while_building: list[tuple[str | None, int]] = []

    async def watch(status: ReindexStatus) -> None:
        if status.state == "progress":  # the new version has data, and is not live yet
            seen_while_building.append((await store.live_version(), await store.count()))

    final = await run.run(command([only], mode="full"), watch)
    assert seen_while_building == [(old, 4)]
    assert final.index_version == await store.live_version() != old
    assert await store.count() == 1
    assert await store.count(old) == 0  # the old version is gone


async def test_a_full_reindex_of_one_source_keeps_the_other_sources_documents(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, tmp_path)
    await run.run(command([docs], name="office"), Statuses())
    inline = ReindexSource(name="kb", documents=[InlineDocument(doc_id="kb-1", text="Lunch is served at noon.")])
    full = ReindexRequested(request_id="r", session_id="s", user_id="u", source=inline, mode="full")
    final = await run.run(full, Statuses())
    assert final.state == "done" and await store.count() == 5
    office = await store.document_checksums(await store.ensure_live(), TENANT, "office")
    assert sorted(Path(d).name for d in office) == ["billing.pdf", "notes.html", "security.txt", "vacation.md"]
    lunch = (await store.search(await embedder.query("When is lunch?"), 1, tenant=TENANT))[0].record
    assert (lunch.source, lunch.doc_id) == ("kb", "kb-1")


def removal(paths: list[Path], name: str = "docs") -> ReindexRequested:
    return command(paths, mode="remove", name=name)


async def test_the_store_lists_its_documents_by_source(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, tmp_path)
    await run.run(command([docs / "vacation.md"], name="hr"), Statuses())
    await run.run(command([docs / "notes.html"], name="office"), Statuses())
    live = await store.ensure_live()
    everything = await store.indexed_documents(live, TENANT)
    assert everything == [("hr", str(docs / "vacation.md")), ("office", str(docs / "notes.html"))]
    assert await store.indexed_documents(live, TENANT, "office") == [("office", str(docs / "notes.html"))]


async def test_removing_a_file_and_a_folder_takes_their_documents_out_with_progress(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    sub = docs / "archive"
    sub.mkdir()
    (sub / "old.md").write_text("# Old\n\nThe cafeteria closed in 2019.\n")
    run = indexer(store, embedder, tmp_path)
    await run.run(command([docs]), Statuses())
    assert await store.count() == 5
    (docs / "notes.html").unlink()  # a file already gone from disk is still named by its path
    statuses = Statuses()
    final = await run.run(removal([docs / "notes.html", sub], name="cleanup"), statuses)
    assert [s.state for s in statuses.seen] == ["started", "progress", "progress", "done"]
    assert all(s.mode == "remove" for s in statuses.seen) and final.failures == []
    assert (final.counts.total, final.counts.seen, final.counts.deleted) == (2, 2, 2)
    remaining = {doc_id for _, doc_id in await store.indexed_documents(await store.ensure_live(), TENANT)}
    assert remaining == {str(docs / "vacation.md"), str(docs / "security.txt"), str(docs / "billing.pdf")}
    texts = [
        h.record.text for h in await store.search(await embedder.query("When does the office open?"), 10, tenant=TENANT)
    ]
    assert not any("office" in t.lower() for t in texts)


async def test_removing_with_no_path_takes_out_the_whole_source_and_only_it(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, tmp_path)
    await run.run(command([docs / "vacation.md", docs / "notes.html"], name="hr"), Statuses())
    await run.run(command([docs / "billing.pdf"], name="finance"), Statuses())
    final = await run.run(removal([], name="hr"), Statuses())
    assert final.state == "done" and final.counts.deleted == 2
    assert await store.indexed_documents(await store.ensure_live(), TENANT) == [("finance", str(docs / "billing.pdf"))]


async def test_a_removal_naming_nothing_indexed_or_outside_the_roots_reports_each_failure(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, docs)
    nothing_yet = await run.run(removal([docs / "vacation.md"]), Statuses())  # before the first index
    assert nothing_yet.state == "done" and nothing_yet.counts.deleted == 0
    assert [f.error.code for f in nothing_yet.failures] == [ErrorCode.NOT_FOUND]
    await run.run(command([docs / "vacation.md"]), Statuses())
    final = await run.run(removal([docs / "image.png", tmp_path / "elsewhere.md"]), Statuses())
    assert final.state == "done" and final.counts.deleted == 0 and final.counts.failed == 2
    assert [(f.document, f.error.code) for f in final.failures] == [
        (str(docs / "image.png"), ErrorCode.NOT_FOUND),
        (str(tmp_path / "elsewhere.md"), ErrorCode.RAG_PATH_NOT_ALLOWED),
    ]
    assert await store.count() == 1


def as_tenant(cmd: ReindexRequested, tenant: str) -> ReindexRequested:
    return cmd.model_copy(update={"tenant": tenant, "request_id": f"{cmd.request_id}_{tenant}"})


async def test_documents_are_the_commanding_tenants_and_named_relative_to_their_root(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    await indexer(store, embedder, tmp_path).run(as_tenant(command([docs]), "acme"), Statuses())
    question = await embedder.query("How many vacation days?")
    assert await store.search(question, 5, tenant=TENANT) == []
    hit = (await store.search(question, 1, tenant="acme"))[0].record
    assert (hit.tenant, hit.doc_id, hit.name) == ("acme", str(docs / "vacation.md"), "docs/vacation.md")


async def test_one_tenants_reindex_and_removal_leave_another_tenants_same_source_alone(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    docs = folder(tmp_path)
    run = indexer(store, embedder, tmp_path)
    await run.run(as_tenant(command([docs]), "acme"), Statuses())
    await run.run(as_tenant(command([docs / "vacation.md"]), "globex"), Statuses())  # the source without 3 files
    live = await store.ensure_live()
    assert len(await store.indexed_documents(live, "acme")) == 4
    removed = await run.run(as_tenant(removal([], name="docs"), "globex"), Statuses())
    assert removed.counts.deleted == 1
    assert len(await store.indexed_documents(live, "acme")) == 4 and await store.indexed_documents(live, "globex") == []
