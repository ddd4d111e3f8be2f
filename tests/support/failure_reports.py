"""A failed test that used a distributed platform carries its services' logs in its report:
what they logged while the test ran (the processes are gone with pytest's temporary folders by
the time anyone reads it). A plugin of the suite's conftest."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.support.platform import Platform

LOG_MARKS = pytest.StashKey[dict[int, dict[str, int]]]()


def _platforms(item: pytest.Item) -> list[Platform]:
    return [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Platform) and v.processes]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Where each platform's logs stood as the test began: a shared platform's logs end with other tests'."""
    item.stash[LOG_MARKS] = {id(platform): platform.log_marks() for platform in _platforms(item)}
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used a distributed platform carries its services' logs in its report:
    what they logged while the test ran, the last lines of it."""
    report: pytest.TestReport = yield
    if report.failed and call.when == "call":
        marks = item.stash.get(LOG_MARKS, {})
        for platform in _platforms(item):
            tails = platform.log_tails(80, since=marks.get(id(platform)))
            report.sections.append((f"{platform.mode} platform's service logs during the test", tails))
    return report
