"""A failed test on a shared platform carries what its services logged while it ran, and
nothing from before: the earlier tests' lines would bury the ones that explain the failure."""

from __future__ import annotations

from pathlib import Path

from tests.support.pytest_runs import run_pytest

TESTS = """
import pytest
from tests.support.platform import Platform, ServiceProcess


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    process = ServiceProcess("service", "this", {}, tmp_path_factory.mktemp("logs"))  # logs a poem, ends
    process.proc.wait()
    return Platform(mode="distributed", base_url="http://127.0.0.1:9", processes={"service": process})


def log(platform, line):
    with platform.processes["service"].log_path.open("a") as file:
        file.write(line + "\\n")


def test_an_earlier_test(platform):
    log(platform, "LOGGED DURING THE EARLIER TEST")


def test_a_failing_test(platform):
    log(platform, "LOGGED DURING THE FAILING TEST")
    assert False
"""


def test_a_failed_tests_report_has_the_logs_of_its_own_time_only(tmp_path: Path) -> None:
    (tmp_path / "test_shared_platform.py").write_text(TESTS)
    # The plugin the suite's conftest loads: its hooks write the report.
    result = run_pytest(str(tmp_path), "-p", "tests.support.failure_reports", "-q")
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    section = result.stdout.split("platform's service logs during the test", 1)[-1]
    assert "--- service ---\nLOGGED DURING THE FAILING TEST" in section, result.stdout
    assert "LOGGED DURING THE EARLIER TEST" not in section
    assert "Beautiful is better than ugly" not in section  # the service's start, before either test
