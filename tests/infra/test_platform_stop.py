"""A platform's services are stopped with one SIGTERM each, so each drains and leaves its consumer
groups. A second SIGTERM means "stop now" to a service: it skips the drain, its members stay in
their groups until their session times out, and the next platform's replica of the same name
waits that out (measured: a platform's second start on one broker took 23 s, not 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.platform import ServiceProcess, stop_together

# A service that drains for a moment on SIGTERM, writing down each one it gets.
DRAINING_SERVICE = """
import signal, sys, time

def on_term(signum, frame):
    print("SIGTERM", flush=True)
    draining.append(time.monotonic())

draining = []
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while not draining or time.monotonic() - draining[0] < 0.5:
    time.sleep(0.01)
sys.exit(0)
"""


@pytest.fixture
def service_path(tmp_path: Path) -> Path:
    (tmp_path / "draining_service.py").write_text(DRAINING_SERVICE)
    return tmp_path


def started(name: str, path: Path, log_dir: Path) -> ServiceProcess:
    process = ServiceProcess(name, "draining_service", {"PYTHONPATH": str(path)}, log_dir)
    while "ready" not in process.tail():
        assert process.proc.poll() is None, process.tail()
    return process


def terms(process: ServiceProcess) -> int:
    return process.log_path.read_text().count("SIGTERM")


def test_services_stopped_together_get_one_sigterm_each(service_path: Path, tmp_path: Path) -> None:
    processes = [started(f"service-{n}", service_path, tmp_path) for n in range(3)]
    stop_together(processes)
    assert [terms(p) for p in processes] == [1, 1, 1]
    assert all(p.proc.returncode == 0 for p in processes)  # drained and ended by itself, not killed


def test_a_service_a_test_drained_itself_is_not_signalled_again_at_its_stop(service_path: Path, tmp_path: Path) -> None:
    process = started("rolled", service_path, tmp_path)
    process.terminate()  # a test's own rollout: the drain under way as the platform stops
    process.stop()
    assert terms(process) == 1


def test_a_service_started_again_gets_its_own_sigterm_at_its_stop(service_path: Path, tmp_path: Path) -> None:
    process = started("rolled", service_path, tmp_path)
    process.terminate()
    process.proc.wait(10)
    process.respawn()
    while process.tail().count("ready") < 2:
        assert process.proc.poll() is None, process.tail()
    process.stop()
    assert terms(process) == 2
