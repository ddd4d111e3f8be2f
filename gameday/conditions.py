"""Argo Rollouts' success and failure conditions (`result[0] < 0.05`, `len(result) == 0 ||
result[0] <= 0.1`, `isNaN(result[0])`), evaluated without `eval`: the expr-lang subset the
templates use is rewritten into a Python expression, parsed, and only its comparisons,
boolean logic, arithmetic, indexing of `result` and Argo's helpers (`len`, `isNaN`,
`isInf`, `default`) are walked. Anything else is refused, as Argo refuses what it cannot parse."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

__all__ = ["ConditionError", "evaluate_condition"]


class ConditionError(ValueError):
    """A condition that cannot be evaluated: Argo counts the measurement as an error."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "isNaN": lambda x: isinstance(x, float) and math.isnan(x),
    "isInf": lambda x: isinstance(x, float) and math.isinf(x),
    "default": _default,
    "float": float,
}


def _to_python(condition: str) -> str:
    text = condition.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    text = re.sub(r"\btrue\b", "True", text)
    text = re.sub(r"\bfalse\b", "False", text)
    return re.sub(r"\bnil\b", "None", text).strip()


def evaluate_condition(condition: str, result: Any) -> bool:
    """Whether `condition` holds for a measurement's `result` (a list of floats, or a float)."""
    try:
        tree = ast.parse(_to_python(condition.strip()), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse condition {condition!r}: {exc.msg}") from None
    try:
        return bool(_walk(tree.body, result))
    except (IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise ConditionError(f"{condition!r} on {result!r}: {exc}") from None


def _walk(node: ast.AST, result: Any) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str, type(None))):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "result":
            return result
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise ConditionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.BoolOp):
        values = (_walk(v, result) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _walk(node.operand, result)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -operand
        raise ConditionError("unsupported unary operator")
    if isinstance(node, ast.Compare):
        left = _walk(node.left, result)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _walk(right_node, result)
            if type(op) not in _COMPARE or not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_walk(node.left, result), _walk(node.right, result))
    if isinstance(node, ast.Subscript):
        return _walk(node.value, result)[_walk(node.slice, result)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*(_walk(a, result) for a in node.args))
    raise ConditionError(f"unsupported expression: {ast.dump(node)[:80]}")
