"""A machine without Java/Maven skips the Kafka tier and says so; CI fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support.pytest_runs import run_pytest

KAFKA_TESTS = "tests/e2e/test_distributed_scaling.py"


@pytest.fixture(scope="module")
def path_without_java(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH that has redis-server and the shell tools but no java and no mvn."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for tool in ("redis-server", "bash", "sh", "env"):
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run_kafka_tier(path: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TEST_KAFKA_BOOTSTRAP")}
    env.update(PATH=path, **({"CI": "true"} if ci else {}))
    # Over two workers, as `make test` runs it: the skips happen in the workers, the summary in the
    # process that started them.
    return run_pytest(KAFKA_TESTS, "-q", "-n", "2", env=env)


def test_without_java_the_kafka_tier_is_skipped_with_a_line_saying_why(path_without_java: str) -> None:
    result = run_kafka_tier(path_without_java, ci=False)
    assert result.returncode == 0, result.stdout
    assert "SKIPPED TIER: Kafka: java and mvn not found" in result.stdout
    assert "skipped" in result.stdout.splitlines()[-1]


def test_in_ci_a_missing_kafka_fails_the_run(path_without_java: str) -> None:
    result = run_kafka_tier(path_without_java, ci=True)
    assert result.returncode != 0
    assert "Kafka tier cannot run in CI" in result.stdout
