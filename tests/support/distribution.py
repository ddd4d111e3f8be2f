"""How the suite splits over pytest-xdist's workers (`make test` runs `TEST_WORKERS`, two by default).

Most of the suite's time is spent waiting (an outage's length, a timeout, a broker's start), not
computing, so two workers on two cores take much less time than one. The units of work:

- A tier whose conftest starts something once for the whole tier (a session- or package-scoped
  fixture: e2e's platforms, the web and chaos tiers' platforms, the runbook's Prometheus) is one
  unit, so that it starts once, on one worker. Found by reading the conftest, so a new shared
  fixture is grouped without anyone remembering to.
- Every other test file is a unit of its own (module-scoped fixtures stay on one worker).

A scheduler of the suite's own (`SuiteScheduling`, from `pytest_xdist_make_scheduler`) groups by
unit, from the test's id alone. Not `xdist_group` marks: `--dist loadgroup` reads them by
rewriting test ids, which pytest 9.2 no longer lets it do, and then silently groups nothing
(pytest-xdist#1386).

Units are queued slowest first (longest job first: the workers then end close together), in the
order of `SLOWEST_TIERS`, measured with `--durations`; xdist's own reorder (by test count) is
turned off for it (`--no-loadscope-reorder`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

TESTS = Path(__file__).resolve().parents[1]

# The tiers whose units take longest, slowest first (docs/testing.md, "The suite's time").
SLOWEST_TIERS = ("e2e", "web", "chaos", "common", "gameday", "rag", "runbook", "budgets", "docs", "usage")

_SHARED_FIXTURE = re.compile(r"@pytest\.fixture\([^)]*scope=\"(?:session|package)\"")


@cache
def shares_fixtures(tier: str) -> bool:
    """Whether the tier's conftest starts something once for the whole tier."""
    conftest = TESTS / tier / "conftest.py"
    return conftest.is_file() and bool(_SHARED_FIXTURE.search(conftest.read_text(encoding="utf-8")))


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to, from its id (`tests/<tier>/<file>.py::<name>`): its tier
    when the tier shares fixtures, else its file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    tier = parts[1] if len(parts) > 2 and parts[0] == TESTS.name else ""
    return f"{TESTS.name}/{tier}" if tier and shares_fixtures(tier) else path


class SuiteScheduling(LoadScopeScheduling):
    """xdist's scope scheduler with the suite's units as its scopes: a unit runs whole on one worker."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


def queue_rank(item: pytest.Item) -> int:
    """Where the item's unit goes in the queue: the slowest tiers first, in `SLOWEST_TIERS` order."""
    tier = item.path.resolve().relative_to(TESTS).parts[0]
    return SLOWEST_TIERS.index(tier) if tier in SLOWEST_TIERS else len(SLOWEST_TIERS)


def queue_slowest_first(items: list[pytest.Item]) -> None:
    """The slowest tiers first. The sort is stable: within a tier, pytest's own order (which groups
    the tests of a parametrized shared fixture together) is kept."""
    items.sort(key=queue_rank)


def give_operations_their_ids(items: list[pytest.Item]) -> None:
    """An item named with parameters (`test[POST /api/chat]`) whose id has none gets them in its id.

    schemathesis's items are such: pytest 9.2 builds a test's id from its callspec, and
    `schema.parametrize()` makes one item per API operation without one, so all of them share
    one id. xdist hands out work by id, and ran one operation of twelve."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        node_id = getattr(item, "_id", None)  # pytest 9.2's structured id; earlier, the id had the name
        prefix = f"{item.originalname}["
        if node_id is not None and node_id.params is None and item.name.startswith(prefix) and item.name.endswith("]"):
            item._id = node_id.with_params(item.name[len(prefix) : -1])


def repeated_ids(items: list[pytest.Item]) -> list[str]:
    """Ids collected more than once: under xdist, only one of each would run, silently."""
    return sorted(nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1)
