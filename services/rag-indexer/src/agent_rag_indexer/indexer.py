"""One reindex command, start to finish: list, compare checksums, read, chunk, embed,
write, delete what is gone, and report progress on `rag.status` as it goes; or, for a
`remove` command, delete the documents it names (`removal.py`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.messages import ReindexCounts, ReindexFailure, ReindexRequested, ReindexStatus
from agent_common.rag.embeddings import Embedder
from agent_common.rag.records import ChunkRecord
from agent_common.rag.store import VectorStore
from agent_rag_indexer.chunking import ChunkingConfig, chunk_document
from agent_rag_indexer.documents import Document, checksum_of, normalise
from agent_rag_indexer.readers import read
from agent_rag_indexer.removal import named_documents
from agent_rag_indexer.sources import Candidate, candidates

log = logging.getLogger("agent.rag_indexer")

Publish = Callable[[ReindexStatus], Awaitable[None]]


def records_of(doc: Document, config: ChunkingConfig, *, tenant: str, name: str) -> list[ChunkRecord]:
    return [
        ChunkRecord(
            tenant=tenant,
            source=doc.source,
            doc_id=doc.doc_id,
            name=name,
            title=doc.title,
            version=doc.version,
            last_updated=doc.last_updated,
            language=doc.language,
            checksum=doc.checksum,
            chunk_index=index,
            text=chunk.text,
            heading_path=list(chunk.heading_path),
            page=chunk.page,
            char_start=chunk.start,
            char_end=chunk.end,
            strategy=config.strategy,
        )
        for index, chunk in enumerate(chunk_document(doc, config))
    ]


def status_of(
    command: ReindexRequested,
    state: str,
    counts: ReindexCounts,
    failures: Sequence[ReindexFailure],
    started: float,
    **extra: object,
) -> ReindexStatus:
    """One status of `command` on `rag.status`, as far as it got."""
    return ReindexStatus.model_validate(
        {
            "request_id": command.request_id,
            "session_id": command.session_id,
            "user_id": command.user_id,
            "state": state,
            "mode": command.mode,
            "source": command.source.name,
            "counts": counts,
            "failures": list(failures),
            "elapsed_s": round(time.monotonic() - started, 3),
            **extra,
        }
    )


class Indexer:
    def __init__(
        self,
        *,
        store: VectorStore,
        embedder: Embedder,
        chunking: ChunkingConfig,
        allowed_roots: Sequence[Path],
        batch_size: int = 32,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunking = chunking
        self.allowed_roots = list(allowed_roots)
        self.batch_size = batch_size

    async def embed(self, records: Sequence[ChunkRecord]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(records), self.batch_size):
            vectors.extend(await self.embedder.passages([r.text for r in records[start : start + self.batch_size]]))
        return vectors

    async def run(self, command: ReindexRequested, publish: Publish) -> ReindexStatus:
        """Carry out `command`; every status (the last one returned) goes to `publish`."""
        started = time.monotonic()
        source = command.source.name
        counts = ReindexCounts()
        failures: list[ReindexFailure] = []

        def status(state: str, **extra: object) -> ReindexStatus:
            return status_of(command, state, counts, failures, started, **extra)

        if command.mode == "remove":
            return await self.remove(command, publish)
        found, refused = candidates(command.source, self.allowed_roots)
        counts = counts.model_copy(update={"total": len(found)})
        failures.extend(ReindexFailure(document=item.doc_id, error=item.error.info) for item in refused)
        counts = counts.model_copy(update={"failed": len(failures)})
        await publish(status("started"))
        target: str | None = None
        try:
            if command.mode == "full":
                target = await self.store.create_version()
                existing: dict[str, str] = {}
            else:
                target = await self.store.ensure_live()
                existing = await self.store.document_checksums(target, command.tenant, source)
            for candidate in found:
                outcome = await self._one(command, candidate, target, existing.get(candidate.doc_id))
                update: dict[str, int] = {"seen": counts.seen + 1}
                if isinstance(outcome, ErrorInfo):
                    failures.append(ReindexFailure(document=candidate.doc_id, error=outcome))
                    update["failed"] = counts.failed + 1
                elif outcome is None:
                    update["unchanged"] = counts.unchanged + 1
                else:
                    update["changed"] = counts.changed + 1
                    update["chunks_written"] = counts.chunks_written + outcome
                counts = counts.model_copy(update=update)
                await publish(status("progress"))
            listed = {c.doc_id for c in found}
            gone = [doc_id for doc_id in existing if doc_id not in listed]
            for doc_id in gone:
                await self.store.delete_document(target, command.tenant, source, doc_id)
            counts = counts.model_copy(update={"deleted": len(gone)})
            if command.mode == "full":
                live = await self.store.live_version()
                if live is not None:  # the other sources' (and tenants') documents stay as they are
                    await self.store.copy_other_sources(command.tenant, source, live, target)
                await self.store.switch_to(target)
        except PlatformError as exc:
            if command.mode == "full" and target is not None:
                await self._drop_quietly(target)
            final = status("failed", error=exc.info)
            log.warning("reindex failed", extra={"source": source, "error_code": exc.code.value})
            await publish(final)
            return final
        final = status("done", index_version=target)
        log.info("reindex done", extra={"source": source, "mode": command.mode, **counts.model_dump()})
        await publish(final)
        return final

    async def remove(self, command: ReindexRequested, publish: Publish) -> ReindexStatus:
        """Carry out a `remove` command: the documents it names leave the live index, one
        `progress` status each (`seen` and `deleted` count them)."""
        started = time.monotonic()
        counts = ReindexCounts()
        failures: list[ReindexFailure] = []
        await publish(status_of(command, "started", counts, failures, started))
        try:
            # Before the first index there is nothing to remove: every named path names nothing.
            live = await self.store.live_version() or ""
            # The command's tenant's documents only: a key cannot remove another tenant's.
            indexed = await self.store.indexed_documents(live, command.tenant) if live else []
            named, failures = named_documents(command.source, indexed, self.allowed_roots)
            counts = ReindexCounts(total=len(named), failed=len(failures))
            for source, doc_id in named:
                await self.store.delete_document(live, command.tenant, source, doc_id)
                counts = counts.model_copy(update={"seen": counts.seen + 1, "deleted": counts.deleted + 1})
                await publish(status_of(command, "progress", counts, failures, started))
        except PlatformError as exc:
            final = status_of(command, "failed", counts, failures, started, error=exc.info)
            log.warning("removal failed", extra={"source": command.source.name, "error_code": exc.code.value})
            await publish(final)
            return final
        final = status_of(command, "done", counts, failures, started, index_version=live or None)
        log.info("documents removed", extra={"source": command.source.name, **counts.model_dump()})
        await publish(final)
        return final

    async def _one(
        self, command: ReindexRequested, candidate: Candidate, target: str, stored_checksum: str | None
    ) -> int | ErrorInfo | None:
        """Chunks written for the document, None when unchanged, or why it failed."""
        try:
            loaded = candidate.load()
            checksum = checksum_of(loaded.content)
            if checksum == stored_checksum:
                return None
            doc = normalise(
                source=command.source.name,
                doc_id=candidate.doc_id,
                parsed=read(loaded.content, loaded.format),
                checksum=checksum,
                fallback_title=candidate.fallback_title,
                title=loaded.title,
                version=loaded.version,
                last_updated=loaded.last_updated,
                language=loaded.language,
            )
            records = records_of(doc, self.chunking, tenant=command.tenant, name=candidate.name)
            if not records:
                raise PlatformError(
                    ErrorCode.RAG_DOCUMENT_INVALID, "The document has no text to index.", reason="no_text"
                )
            vectors = await self.embed(records)
            await self.store.upsert(target, records, vectors)  # replaces the document's old chunks
            return len(records)
        except PlatformError as exc:
            if exc.code in (ErrorCode.RAG_STORE_UNAVAILABLE, ErrorCode.RAG_EMBEDDINGS_UNAVAILABLE):
                raise  # the whole command cannot go on
            return exc.info

    async def _drop_quietly(self, version: str) -> None:
        try:
            await self.store.drop(version)
        except PlatformError:
            log.warning("could not drop an unfinished index version", extra={"index_version": version})
