"""The results: per case, per rule; shown as a table and saved as JSON."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from agent_cli.prompt_eval.cases import Case
from agent_cli.prompt_eval.evidence import Outcome, Verdict
from agent_cli.prompt_eval.rules import RULE_CLASSES, Rule

PASS, FAIL, UNUSED = "✓", "✗", "·"
QUESTION_WIDTH = 44


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    verdict: Verdict


@dataclass(frozen=True)
class CaseResult:
    case: Case
    question: str
    outcome: Outcome | None
    results: tuple[RuleResult, ...]
    error: str | None = None  # the case could not run (platform unreachable, a session turn failed)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.verdict.ok for r in self.results)


@dataclass(frozen=True)
class Report:
    base_url: str
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def models(self) -> list[str]:
        return sorted({c.outcome.model for c in self.cases if c.outcome and c.outcome.model})

    def failed_rules(self) -> int:
        """Rules that failed; a case that could not run fails all of its rules."""
        return sum(len(c.case.rules) if c.error else sum(1 for r in c.results if not r.verdict.ok) for c in self.cases)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "base_url": self.base_url,
            "models": self.models,
            "summary": {
                "cases": len(self.cases),
                "cases_passed": sum(1 for c in self.cases if c.passed),
                "rules_failed": self.failed_rules(),
            },
            "cases": [_case_json(c) for c in self.cases],
        }


def _case_json(result: CaseResult) -> dict[str, Any]:
    outcome = result.outcome
    return {
        "id": result.case.id,
        "question": result.question,
        "passed": result.passed,
        "error": result.error,
        "seconds": round(result.seconds, 3),
        "answer": outcome.answer if outcome else None,
        "terminal": outcome.terminal if outcome else None,
        "error_code": outcome.error_code if outcome else None,
        "model": outcome.model if outcome else None,
        "tool_calls": [
            {"tool": c.tool, "arguments": c.arguments, "ok": c.ok, "error_code": c.error_code}
            for c in (outcome.tool_calls if outcome else ())
        ],
        "rules": [
            {"rule": r.rule.rule, "params": r.rule.params(), "ok": r.verdict.ok, "reason": r.verdict.reason}
            for r in result.results
        ],
    }


# ---- the table ----


def width(text: str) -> int:
    """Terminal columns: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fit(text: str, columns: int) -> str:
    """`text` on one line, cut to `columns` terminal columns and padded to exactly that."""
    flat = " ".join(text.split())
    if width(flat) > columns:
        while width(flat) > columns - 1:
            flat = flat[:-1]
        flat += "…"
    return flat + " " * (columns - width(flat))


def _marks(result: CaseResult, rule: str) -> str:
    """One mark per use of `rule` in the case; a case that could not run fails all of its rules."""
    if result.error:
        return FAIL * sum(1 for r in result.case.rules if r.rule == rule)
    return "".join(PASS if r.verdict.ok else FAIL for r in result.results if r.rule.rule == rule)


def render_table(report: Report) -> str:
    """One row per case, one column per rule used (✓ pass, ✗ fail, · not used); failures under their row."""
    used = {r.rule for c in report.cases for r in c.case.rules}
    columns = [cls for cls in RULE_CLASSES if cls.rule in used]
    id_width = max([width("case"), *(width(c.case.id) for c in report.cases)])
    cell_widths = [max([width(cls.label), *(len(_marks(c, cls.rule)) for c in report.cases)]) for cls in columns]
    header = [fit("case", id_width), fit("question", QUESTION_WIDTH)]
    header += [fit(cls.label, w) for cls, w in zip(columns, cell_widths, strict=True)]
    lines = ["  ".join(header).rstrip()]
    for result in report.cases:
        cells = [fit(_marks(result, cls.rule) or UNUSED, w) for cls, w in zip(columns, cell_widths, strict=True)]
        row = [fit(result.case.id, id_width), fit(result.question, QUESTION_WIDTH), *cells]
        lines.append("  ".join(row).rstrip())
        if result.error:
            lines.append(f"    {FAIL} not run: {result.error}")
        lines.extend(f"    {FAIL} {r.rule.describe()}: {r.verdict.reason}" for r in result.results if not r.verdict.ok)
    passed = sum(1 for c in report.cases if c.passed)
    models = ", ".join(report.models) or "?"
    lines += [
        "",
        "columns: " + "  ".join(f"{cls.label}={cls.rule}" for cls in columns),
        f"{passed}/{len(report.cases)} cases passed, {report.failed_rules()} rule(s) failed"
        f" (platform {report.base_url}, model {models})",
    ]
    return "\n".join(lines)
