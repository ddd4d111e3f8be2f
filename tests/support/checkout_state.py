"""The suite leaves the checkout's own state alone: `.agent/` (API keys, budgets, their spend),
`.data/` (the document index, the usage ledger) and `.env`, which `make run` and the `agent`
commands use by default. A test platform that fell back on them read a developer's keys (a key
made with `agent keys create` refused the tests' anonymous calls) and spent their budgets.

A plugin of the suite's conftest: the run fails, naming each file, when one of them was made,
changed or removed while the tests ran. Settings from `.env` are not read during the run either.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WATCHED = (".agent", ".data", ".env")
BEFORE = pytest.StashKey[dict[str, tuple[int, int]]]()


def checkout_state(root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """Each watched file's size and modification time, by its path in the checkout."""
    found: dict[str, tuple[int, int]] = {}
    for name in WATCHED:
        top = root / name
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if path.is_file():
                stat = path.stat()
                found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def changed_files(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def _controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")  # xdist's workers report to the controller, which checks once


def pytest_configure(config: pytest.Config) -> None:
    # Nothing of a developer's `.env` (a REDIS_URL, a model key) reaches the platforms the tests start.
    os.environ.setdefault("PLATFORM_ENV_FILE", os.devnull)


AROUND_TEST = pytest.StashKey[dict[str, tuple[int, int]]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    item.stash[AROUND_TEST] = checkout_state()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Names the test (or, over several workers, a test running at the time) during which a
    watched file changed: the run's end says only that one did."""
    result = yield
    before = item.stash.get(AROUND_TEST, None)
    if before is not None and (changed := changed_files(before, checkout_state())):
        warnings.warn(f"the checkout's own state changed during this test: {', '.join(changed)}", stacklevel=1)
    return result


def pytest_sessionstart(session: pytest.Session) -> None:
    if _controller(session.config):
        session.config.stash[BEFORE] = checkout_state()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    before = session.config.stash.get(BEFORE, None)
    if before is None:
        return
    changed = changed_files(before, checkout_state())
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", "a test wrote where a developer's own platform keeps its state", red=True)
            reporter.write_line("the tests changed the checkout's own state: " + ", ".join(changed), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
