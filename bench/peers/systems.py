"""The systems the peers comparison runs side by side, each behind an OpenAI-compatible
`/v1` in front of one shared offline model: the model itself (direct), the floor
(`floor_proxy.py`), the LiteLLM proxy (1 worker, a master key, no database; installed
into `bench/.peers-venv` from `requirements.txt`), and the platform in both modes.

A system's `pids` are the processes whose CPU a request through it costs: the
distributed platform's services with its Kafka broker and Redis; never the shared
model or the load generator, which are measured on their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import platforms
from tests.support.web import free_tcp_port

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE.parent / ".peers-venv"
REQUIREMENTS = HERE / "requirements.txt"
UV = HERE.parents[1] / ".tools" / "bin" / "uv"
MASTER_KEY = "sk-bench-peers"  # the LiteLLM proxy's, on loopback only
MODEL = "offline-1"  # what the offline model answers as (bench.load's baseline asks for it)


@dataclass
class System:
    """`kind` and `url` as `bench.load.run_level` takes them: `baseline` with a `/v1` URL for an
    OpenAI-compatible proxy (or the model), `openai` with the platform's base URL (its `/v1`)."""

    name: str
    kind: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


def direct(model_v1: str) -> System:
    return System("direct", "baseline", model_v1)


@contextmanager
def floor(model_v1: str, work: Path) -> Iterator[System]:
    port = free_tcp_port()
    command = [sys.executable, "-m", "bench.peers.floor_proxy", "--port", str(port), "--upstream", model_v1]
    with _process(command, work / "floor.log", os.environ) as proc:
        _wait(f"http://127.0.0.1:{port}/v1/chat/completions", method="POST", what="the floor proxy")
        yield System("floor", "baseline", f"http://127.0.0.1:{port}/v1", pids={"floor": proc.pid})


def litellm_version() -> str:
    out = subprocess.run(
        [str(PEERS_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def install_litellm() -> str:
    """LiteLLM's proxy in a virtual environment of its own (uv: seconds when cached); its version."""
    if not (PEERS_VENV / "bin" / "litellm").exists():
        print(f"peers: installing LiteLLM into {PEERS_VENV}", flush=True)
        subprocess.run([str(UV), "venv", "-q", "-p", "3.11", str(PEERS_VENV)], check=True)
        subprocess.run(
            [str(UV), "pip", "install", "-q", "--python", str(PEERS_VENV / "bin" / "python"), "-r", str(REQUIREMENTS)],
            check=True,
        )
    return litellm_version()


@contextmanager
def litellm(model_v1: str, work: Path) -> Iterator[System]:
    port = free_tcp_port()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {model_v1}\n"
        "      api_key: none\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet at start
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    command = [str(PEERS_VENV / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--num_workers", "1"]
    with _process(command, work / "litellm.log", env) as proc:
        _wait(f"http://127.0.0.1:{port}/health/liveliness", what="the LiteLLM proxy", timeout_s=180)
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        yield System("LiteLLM", "baseline", f"http://127.0.0.1:{port}/v1", headers, {"litellm": proc.pid})


@contextmanager
def embedded(model_v1: str, work: Path) -> Iterator[System]:
    with platforms.embedded(work, model_base_url=model_v1) as running:
        yield System("embedded", "openai", running.base_url, running.headers, dict(running.pids))


@contextmanager
def distributed(work: Path) -> Iterator[tuple[System, str, int]]:
    """The distributed platform, and its offline model (`/v1` URL and pid): the one every system shares."""
    with platforms.distributed(work, orchestrators=2) as running:
        pids = dict(running.pids)
        model_pid = pids.pop("offline-model")
        system = System("distributed", "openai", running.base_url, running.headers, pids)
        yield system, running.model_url, model_pid


@contextmanager
def _process(command: list[str], log_path: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait(url: str, *, what: str, method: str = "GET", timeout_s: float = 60) -> None:
    """Until `url` answers at all (any status: a bare POST is refused, but the server is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.request(method, url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not start within {timeout_s:.0f} s")
