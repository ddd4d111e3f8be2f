"""A test that checks a secret did not leak must pick a secret no generated id can contain.

Ids are lowercase hex (`agent_common.ids.new_id`: milliseconds, then random digits), and
error bodies carry one. A secret such as "7421" appears inside a request id about once in a
few thousand runs, and then the leak check fails on a correct answer (it did, in CI: the
body's `req_1a2537421642...` held it). This check reads every test for `"<literal>" not in`
and refuses a short literal made only of hex digits.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
SEARCHED = [TESTS, ROOT / "gameday"]
# Ten hex digits sit in a 26-digit id with odds of about 2e-11: far below one in the suite's lifetime.
SAFE_HEX_LENGTH = 10


def looks_like_part_of_an_id(literal: str) -> bool:
    return len(literal) < SAFE_HEX_LENGTH and all(c in string.hexdigits for c in literal)


def absence_checks(source: str) -> list[tuple[int, str]]:
    """Every `"<literal>" not in ...` in a module, as (line, literal)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant)):
            continue
        if isinstance(node.left.value, str) and any(isinstance(op, ast.NotIn) for op in node.ops):
            found.append((node.lineno, node.left.value))
    return found


def test_no_leak_check_looks_for_a_secret_an_id_could_hold() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {literal!r}"
        for folder in SEARCHED
        for path in sorted(folder.rglob("*.py"))
        for line, literal in absence_checks(path.read_text(encoding="utf-8"))
        if looks_like_part_of_an_id(literal)
    ]
    assert not offenders, "pick a secret with a letter past 'f' (ids are hex):\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("literal", "risky"),
    [("7421", True), ("beef", True), ("a1", True), ("0123456789", False), ("Quokka", False), ("s3cret", False)],
)
def test_the_check_knows_which_literals_an_id_can_hold(literal: str, risky: bool) -> None:
    assert looks_like_part_of_an_id(literal) is risky


def test_the_check_finds_the_assertion_that_failed_in_ci() -> None:
    source = 'def test_x(theirs):\n    assert "7421" not in theirs.text\n'
    assert absence_checks(source) == [(2, "7421")]


def test_the_premise_ids_are_hex_after_their_prefix() -> None:
    from agent_common.ids import new_id

    assert re.fullmatch(r"req_[0-9a-f]{26,}", new_id("req_"))
