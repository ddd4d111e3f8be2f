"""What the index holds per chunk: the passage's text, its position, and its document's metadata."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent_common.messages import DEFAULT_TENANT


class ChunkRecord(BaseModel):
    """One passage as stored (the payload of one vector)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # The tenant of the key that indexed it: only that tenant's questions retrieve it.
    tenant: str = DEFAULT_TENANT
    source: str
    doc_id: str
    # The document as a person names it: a file's path relative to the allowed root it lies
    # under (never the server's absolute path, which `doc_id` is), or an inline document's id.
    name: str = ""
    title: str
    version: str
    last_updated: str
    language: str
    checksum: str
    chunk_index: int
    text: str
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    strategy: str = ""

    def location(self) -> str:
        """Where the passage is, for a person: heading path, page and offsets."""
        parts = [" > ".join(self.heading_path)] if self.heading_path else []
        if self.page is not None:
            parts.append(f"page {self.page}")
        parts.append(f"chars {self.char_start}-{self.char_end}")
        return ", ".join(parts)


class ScoredChunk(BaseModel):
    """A stored passage and how well it matches a query (cosine similarity, higher is closer)."""

    model_config = ConfigDict(frozen=True)

    record: ChunkRecord
    score: float


class IndexedDocument(BaseModel):
    """One document of the live index, as a person lists it."""

    model_config = ConfigDict(frozen=True)

    source: str
    doc_id: str
    title: str
    version: str
    updated_at: str
    """The document's `last_updated` as indexed."""
    chunks: int
