"""The README's distributed mode, run as a newcomer runs it.

The quickstart block is run with bash, as written, against the Kafka and Redis
this test session started (their ports given through the variables the block
reads, `${KAFKA_PORT:-9092}` ...), and must end with a real answer from its own
`curl`; then the README's stop block must end every process it started. The
table of services, the servers block and the compose key command are checked
against the code and docker-compose.yml they describe.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.deploy import cmd_module, service_images, service_settings_env, settings_classes, yaml_files
from tests.docs.readme import REPO, marked_block, section, shell_defaults, table
from tests.support.services import require_service
from tests.support.web import free_tcp_port

SECTION = "The distributed mode"

# A table row -> the service it runs and the variable the quickstart reads for its port.
ROWS = {
    "offline model": ("offline-model", "OFFLINE_MODEL_PORT"),
    "tool runner": ("tool-runner", "TOOL_RUNNER_PORT"),
    "orchestrator": ("orchestrator", "ORCHESTRATOR_PORT"),
    "second orchestrator": ("orchestrator", "ORCHESTRATOR_2_PORT"),
    "gateway": ("gateway", "GATEWAY_PORT"),
    "RAG indexer": ("rag-indexer", "RAG_INDEXER_PORT"),
}
# Printed between the quickstart and the stop block, so the test can look around in between.
PAUSE = "readme-test: quickstart done"
BUDGET_S = 75


def services_table() -> dict[str, dict[str, str]]:
    return {row["service"]: row for row in table(section(SECTION), "service")}


def setting_default(svc_dir: str, variable: str) -> object:
    """The default of the setting `variable` of the service in `services/<svc_dir>`."""
    for cls in settings_classes(cmd_module(service_images()[svc_dir])):
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, info in cls.model_fields.items():
            if f"{prefix}{name}".upper() == variable:
                return info.default
    raise AssertionError(f"{svc_dir} has no setting {variable}")


def metrics_of(row: dict[str, str]) -> int | None:
    return None if row["metrics"] == "-" else int(row["metrics"])


# ---- what the section says, against the code -----------------------------------------------


def test_every_service_in_the_table_is_a_service_with_its_default_port() -> None:
    rows = services_table()
    assert set(rows) == set(ROWS)
    assert {svc_dir for svc_dir, _ in ROWS.values()} == set(service_images())
    quickstart = shell_defaults(marked_block("distributed-quickstart"))
    for name, (svc_dir, variable) in ROWS.items():
        port = int(rows[name]["port"])
        if variable in service_settings_env(svc_dir):
            assert setting_default(svc_dir, variable) == port, f"{name}: {variable}'s default is not {port}"
        if variable in quickstart:
            assert int(quickstart[variable]) == port, f"the quickstart's {variable} is not the table's {port}"
        # METRICS_PORT unset: the service's port + 1000 (docs/configuration.md)
        has_metrics = "METRICS_PORT" in service_settings_env(svc_dir)
        assert metrics_of(rows[name]) == (port + 1000 if has_metrics else None), name
    assert rows["second orchestrator"]["port"] != rows["orchestrator"]["port"]


def test_the_table_names_only_settings_its_service_reads() -> None:
    for name, row in services_table().items():
        svc_dir, _ = ROWS[name]
        names = re.findall(r"`([A-Z0-9_]+\*?)`", row["reads"])
        if row["reads"] == "the same":
            continue
        assert names, f"{name}: no settings named"
        known = service_settings_env(svc_dir)
        for setting in names:
            if setting.endswith("*"):
                assert any(k.startswith(setting[:-1]) for k in known), f"{name} reads no {setting}"
            else:
                assert setting in known, f"{name} does not read {setting} (docs/configuration.md)"


def test_the_servers_are_started_where_the_quickstart_looks_and_stopped_the_same_way() -> None:
    servers = marked_block("distributed-servers")
    quickstart = shell_defaults(marked_block("distributed-quickstart"))
    stop = marked_block("distributed-stop")
    redis = re.search(r"^redis-server --port (\d+) .*&$", servers, re.MULTILINE)
    assert redis, "Redis is started as a job of the shell, so the stop block's `kill $(jobs -p)` stops it"
    assert redis.group(1) == quickstart["REDIS_PORT"]
    kafka = re.search(r"^scripts/kafka/kafka\.sh start (\S+) (\d+) (\d+)$", servers, re.MULTILINE)
    assert kafka, "kafka.sh start DATA_DIR BROKER_PORT CONTROLLER_PORT (scripts/kafka/kafka.sh)"
    assert kafka.group(2) == quickstart["KAFKA_PORT"]
    assert f"scripts/kafka/kafka.sh stop {kafka.group(1)}" in stop
    for marker in ("distributed-servers", "distributed-quickstart", "distributed-stop", "distributed-compose-key"):
        checked = subprocess.run(["bash", "-n"], input=marked_block(marker), text=True, capture_output=True)
        assert checked.returncode == 0, f"{marker}: {checked.stderr}"


def test_the_compose_key_command_reaches_the_redis_compose_publishes_on_loopback() -> None:
    redis = yaml_files.load(REPO / "docker-compose.yml")["services"]["redis"]
    published = [str(p).split(":") for p in redis.get("ports", [])]
    assert published, "the compose Redis is published for `agent keys create` on the host"
    assert all(len(p) == 3 and p[0] == "127.0.0.1" for p in published), f"Redis on loopback only: {published}"
    command = marked_block("distributed-compose-key")
    url = re.search(r"REDIS_URL=(\S+)", command)
    assert url and "agent keys create" in command
    target = urlsplit(url.group(1))
    assert (target.hostname, str(target.port)) in {(host, port) for host, port, _ in published}


# ---- the quickstart, run ---------------------------------------------------------------------


def free_port_pair() -> int:
    """A free port whose + 1000 is free too: a service's port and its default metrics port."""
    for _ in range(50):
        port = free_tcp_port()
        if port + 1000 < 65536 and port_is_free(port + 1000):
            return port
    raise RuntimeError("no free pair of ports")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def loopback_port(address: str) -> str:
    url = urlsplit(address if "://" in address else f"//{address}")
    if url.hostname not in {"127.0.0.1", "localhost"}:
        require_service("README", f"the README's commands name 127.0.0.1; this session's server is at {address}")
    return str(url.port)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def newcomer_dir(tmp_path: Path) -> Path:
    """A working directory like the repository's root: the README's `.venv/bin/...` and
    `scripts/...` resolve, and what the commands write (`.data/`) stays here."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "scripts").symlink_to(REPO / "scripts")
    return tmp_path


@pytest.fixture
def readme_shell(
    newcomer_dir: Path, redis_url: str, kafka_bootstrap: str
) -> Iterator[tuple[subprocess.Popen[str], dict[str, int], Path]]:
    """bash running the quickstart, then pausing before the stop block until told to go on."""
    if shutil.which("curl") is None:
        require_service("curl", "curl is not installed (apt-get install curl)")
    ports = {variable: free_port_pair() for _, variable in ROWS.values() if variable != "RAG_INDEXER_PORT"}
    env = {
        # A clean environment: only what a shell has, and the ports. No METRICS_PORT, so
        # each metrics port is what the README says (the port + 1000).
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}},
        **{variable: str(port) for variable, port in ports.items()},
        "REDIS_PORT": loopback_port(redis_url),
        "KAFKA_PORT": loopback_port(kafka_bootstrap),
    }
    script = "\n".join(
        [
            marked_block("distributed-quickstart"),
            f"echo; echo {shlex.quote(PAUSE)}; read -r _",
            marked_block("distributed-stop"),
        ]
    )
    out = (newcomer_dir / "stdout").open("w+")
    shell = subprocess.Popen(
        ["bash", "-c", script],
        cwd=newcomer_dir,
        env=env,
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: every process it starts, found and ended
    )
    try:
        yield shell, ports, newcomer_dir
    finally:
        if group_alive(shell.pid):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait(10)
        out.close()


def what_happened(directory: Path) -> str:
    parts = [f"--- bash ---\n{(directory / 'stdout').read_text(errors='replace')[-3000:]}"]
    for log in sorted((directory / ".data" / "logs").glob("*.log")):
        parts.append(f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(parts)


def wait_for_pause(shell: subprocess.Popen[str], directory: Path) -> str:
    deadline = time.monotonic() + BUDGET_S
    while time.monotonic() < deadline:
        printed = (directory / "stdout").read_text(errors="replace")
        if PAUSE in printed:
            return printed.split(PAUSE)[0]
        assert shell.poll() is None, f"the quickstart ended with {shell.returncode}\n{what_happened(directory)}"
        time.sleep(0.3)
    pytest.fail(f"the quickstart gave no answer in {BUDGET_S} s\n{what_happened(directory)}")


@pytest.mark.kafka
@pytest.mark.redis
def test_the_quickstart_gives_a_first_answer_and_the_stop_block_ends_every_process(
    readme_shell: tuple[subprocess.Popen[str], dict[str, int], Path],
) -> None:
    shell, ports, directory = readme_shell
    printed = wait_for_pause(shell, directory)

    answers = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert answers, f"the README's curl printed no JSON\n{what_happened(directory)}"
    assert answers[-1]["answer"].startswith("(offline model)"), answers[-1]

    rows = services_table()
    for name, (_, variable) in ROWS.items():
        if variable not in ports:
            continue  # the indexer needs a document store server: not part of the quickstart
        port = ports[variable]
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200, name
        if metrics_of(rows[name]) is not None:
            scraped = httpx.get(f"http://127.0.0.1:{port + 1000}/metrics", timeout=5)
            assert scraped.status_code == 200 and "# TYPE" in scraped.text, f"{name}: no metrics on its port + 1000"
    # "the gateway refuses calls without one"
    anonymous = httpx.post(f"http://127.0.0.1:{ports['GATEWAY_PORT']}/api/chat", json={"message": "Hello!"}, timeout=5)
    assert anonymous.status_code == 401

    assert shell.stdin is not None
    shell.stdin.write("\n")
    shell.stdin.flush()
    assert shell.wait(30) == 0, what_happened(directory)
    deadline = time.monotonic() + 10
    while group_alive(shell.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(shell.pid), "the stop block left processes running"
