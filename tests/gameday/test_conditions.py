"""Argo's success and failure conditions, as the rollout's AnalysisTemplates write them."""

from __future__ import annotations

import math

import pytest

from gameday.conditions import ConditionError, evaluate_condition


@pytest.mark.parametrize(
    ("condition", "result", "holds"),
    [
        ("result[0] < 0.05", [0.01], True),
        ("result[0] < 0.05", [0.2], False),
        ("result[0] >= 0.05", [0.05], True),
        ("len(result) == 0 || result[0] <= 0.1", [], True),
        ("len(result) == 0 || result[0] <= 0.1", [0.5], False),
        ("result[0] < 0.05 && result[1] < 1", [0.01, 0.5], True),
        ("!(result[0] > 1)", [0.5], True),
        ("isNaN(result[0])", [math.nan], True),
        ("result[0] != 0", [0.0], False),
        ("result < 0.05", 0.01, True),  # a scalar query's result
        ("(result[0] * 100 > 5) == true", [0.1], True),
    ],
)
def test_a_condition_holds_as_argo_would_decide(condition: str, result: object, holds: bool) -> None:
    assert evaluate_condition(condition, result) is holds


@pytest.mark.parametrize(
    "condition",
    ["result[0] < 0.05", "__import__('os').system('true')", "result.__class__", "open('x')", "result[0] <"],
)
def test_what_cannot_be_evaluated_is_an_error_never_run(condition: str) -> None:
    # An empty vector has no result[0]; anything beyond the expression language is refused.
    with pytest.raises(ConditionError):
        evaluate_condition(condition, [])
