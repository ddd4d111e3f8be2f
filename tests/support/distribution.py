"""How the suite splits over pytest-xdist's workers (`make test` runs `TEST_WORKERS`, three by default).

Much of the suite's time is spent waiting (an outage's length, a timeout, a broker's start), not
computing, so three workers on two cores take much less time than one. The units of work:

- A tier whose conftest starts something once for the whole tier (a session- or package-scoped
  fixture: e2e's platforms, the web and chaos tiers' platforms, the runbook's Prometheus) is one
  unit for the files that use it, so that it starts once, on one worker. Found by reading the
  conftest and the file (`ast`: which fixtures the file's tests and fixtures ask for, and what those
  ask for in turn), so a new shared fixture, or a new use of one, is grouped without anyone
  remembering to. A file of such a tier that uses none of them (a platform of its own) is a unit of
  its own: the tier's unit would otherwise hold every platform the tier starts, one after another,
  and end last on its worker.
- Every other test file is a unit of its own (module-scoped fixtures stay on one worker).

A file grouped wrongly, either way, costs time, never correctness: every worker has its own Redis,
Kafka and PostgreSQL, and a shared fixture asked for on two workers starts on both. The reading
errs towards the tier's unit: every string in a test or fixture counts as a fixture it may ask for
(`getfixturevalue("distributed")`), and a file it cannot parse is in the unit.

A scheduler of the suite's own (`SuiteScheduling`, from `pytest_xdist_make_scheduler`) groups by
unit, from the test's id alone. Not `xdist_group` marks: `--dist loadgroup` reads them by
rewriting test ids, which pytest 9.2 no longer lets it do, and then silently groups nothing
(pytest-xdist#1386).

Units are queued slowest first (longest job first: the workers then end close together), in the
order of `SLOWEST_TIERS`, measured with `--durations`; xdist's own reorder (by test count) is
turned off for it (`--no-loadscope-reorder`).
"""

from __future__ import annotations

import ast
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


def _fixtures(tree: ast.Module) -> dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.Call | None]]:
    """The module's fixtures by name, each with its `@pytest.fixture(...)` call (None when bare)."""
    found: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.Call | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call else decorator
                if isinstance(target, ast.Attribute | ast.Name) and _name(target) == "fixture":
                    found[_keyword(call, "name") or node.name] = (node, call)
    return found


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _keyword(call: ast.Call | None, name: str) -> str | None:
    value = next((k.value for k in call.keywords if k.arg == name), None) if call else None
    return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None


def _asked_for(node: ast.AST) -> set[str]:
    """What a test or fixture asks for: its parameters, and every string in it or its decorators
    (`getfixturevalue("x")`, `usefixtures("x")`, a fixture's `params=["x"]`): more than it
    asks for, never less."""
    names = {s.value for s in ast.walk(node) if isinstance(s, ast.Constant) and isinstance(s.value, str)}
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        names |= {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    return names


def reaching_shared(conftest: str) -> tuple[frozenset[str], bool]:
    """A tier conftest's (source) fixtures that are shared or ask for one (directly or not), and
    whether an autouse fixture among them makes every file of the tier use them."""
    fixtures = _fixtures(ast.parse(conftest))
    reach = {name for name, (_, call) in fixtures.items() if _keyword(call, "scope") in ("session", "package")}
    asks = {name: _asked_for(node) for name, (node, _) in fixtures.items()}
    while grown := {name for name, wants in asks.items() if name not in reach and wants & reach}:
        reach |= grown
    autouse = any(name in reach and _autouse(call) for name, (_, call) in fixtures.items())
    return frozenset(reach), autouse


def _autouse(call: ast.Call | None) -> bool:
    return call is not None and any(k.arg == "autouse" for k in call.keywords)


def uses_shared(source: str, reach: frozenset[str]) -> bool:
    """Whether a test file (source) asks for any of `reach`: from a test, the module's `pytestmark`
    or an autouse fixture of its own, directly or through its own fixtures."""
    tree = ast.parse(source)
    own = _fixtures(tree)

    def reaches(name: str, seen: frozenset[str]) -> bool:
        if name in own and name not in seen:  # the file's own fixture of that name (it may ask for the conftest's)
            return any(reaches(wanted, seen | {name}) for wanted in _asked_for(own[name][0]))
        return name in reach

    askers: list[ast.AST] = [
        n for n in tree.body if isinstance(n, ast.Assign) and any(_name(t) == "pytestmark" for t in n.targets)
    ]
    askers += [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")
    ]
    askers += [node for node, call in own.values() if _autouse(call)]
    return any(reaches(name, frozenset()) for node in askers for name in _asked_for(node))


@cache
def uses_shared_fixtures(path: str) -> bool:
    """Whether a test file (`tests/<tier>/<file>.py`) of a sharing tier uses what its conftest shares.
    Where that cannot be read, yes: the tier's unit is the safe default (a file split off wrongly
    would start the tier's platforms once more, on its own worker)."""
    try:
        reach, autouse = reaching_shared((TESTS / path.split("/")[1] / "conftest.py").read_text(encoding="utf-8"))
        return autouse or uses_shared((TESTS.parent / path).read_text(encoding="utf-8"), reach)
    except (OSError, SyntaxError, ValueError):
        return True


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to, from its id (`tests/<tier>/<file>.py::<name>`): its tier
    when the tier shares fixtures and the file uses them, else its file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    tier = parts[1] if len(parts) > 2 and parts[0] == TESTS.name else ""
    if tier and shares_fixtures(tier) and uses_shared_fixtures(path):
        return f"{TESTS.name}/{tier}"
    return path


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
